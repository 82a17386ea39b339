"""Who is asking, for every route that reads or writes patient data.

With ``FHIRBRIDGE_AUTH=jwt`` (the default) the ``Authorization: Bearer`` token is verified
(:mod:`fhirbridge.auth.tokens`) and its identity goes with the request into storage and
search.  An ``X-Provenance`` header (R4 http.html#provenance) may still describe the change
(activity, reason, policy), but the agent recorded is always the token's.  With
``FHIRBRIDGE_AUTH=off`` (development only) every caller is :data:`~fhirbridge.identity.DEVELOPER`,
and may say who it is with ``X-Provenance``.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from starlette.requests import HTTPConnection, Request

from fhirbridge.auth.tokens import TokenVerifier
from fhirbridge.config import Settings
from fhirbridge.errors import FhirError
from fhirbridge.identity import DEVELOPER, Identity
from fhirbridge.writes.provenance import parse_x_provenance

CLIENT_DESCRIBES = ("activity", "reason", "policy", "location", "signature", "entity")
"""What a client with a token may still say about its change in ``X-Provenance``; of ``entity``
the server keeps only the patients' messages the change was made from
(:func:`fhirbridge.contract.patient_messages.credit_patient_messages`)."""


async def authenticate(request: Request, settings: Settings, local_base: str, *, writes: bool) -> Identity:
    """The caller's identity, fresh for this request (its access memory is the request's own);
    a 401 when the token is missing or refused."""
    claimed = _x_provenance(request, local_base) if writes else None
    if settings.auth == "off":
        agent = ((claimed or {}).get("agent") or [{}])[0]
        return replace(
            DEVELOPER,
            subject=(agent.get("who") or {}).get("reference") or DEVELOPER.subject,
            on_behalf_of=(agent.get("onBehalfOf") or {}).get("reference"),
            claimed_provenance=claimed,
            decisions={},
        )
    verifier: TokenVerifier = request.app.state.tokens
    identity = verifier.identity(await verified_claims(request, settings), audiences(settings))
    if claimed is not None:
        kept = {key: value for key, value in claimed.items() if key in CLIENT_DESCRIBES}
        identity = replace(identity, claimed_provenance={"resourceType": "Provenance", **kept}, decisions={})
    return identity


def audiences(settings: Settings) -> list[str]:
    """The token audiences this server accepts: configured, never the Host header."""
    return settings.auth_audience or [str(settings.base_url).rstrip("/")]


async def verified_claims(connection: HTTPConnection, settings: Settings) -> dict[str, Any]:
    """The claims of the caller's bearer token, verified, or the 401 (503) refusing it.

    A token is verified once per request, by whoever asks first: the rate limit, which counts a
    request against the verified client, then authentication."""
    checked: dict[str, Any] | FhirError | None = getattr(connection.state, "verified_token", None)
    if checked is None:
        verifier: TokenVerifier = connection.app.state.tokens
        try:
            checked = await verifier.claims(connection.headers.get("authorization"), audiences(settings))
        except FhirError as refusal:
            checked = refusal
        connection.state.verified_token = checked
    if isinstance(checked, FhirError):
        raise checked
    return checked


def _x_provenance(request: Request, local_base: str) -> dict[str, Any] | None:
    header = request.headers.get("x-provenance")
    if header is None:
        return None
    with contextlib.suppress(UnicodeError):  # HTTP hands header bytes over as Latin-1; clients send UTF-8
        header = header.encode("latin-1").decode("utf-8")
    return parse_x_provenance(header, local_base)

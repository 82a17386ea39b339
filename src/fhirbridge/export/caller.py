"""Who started an export, kept with the job (:mod:`.jobs`): the worker reads the data as they
may, the status and files answer only them (Bulk Data export.html#requiresaccesstoken)."""

from __future__ import annotations

import json
from typing import Any

from fhirbridge.auth.scopes import ALL_SCOPES, Scopes
from fhirbridge.identity import Identity


def to_text(identity: Identity) -> str:
    """The identity's parts the access policy judges by, as JSON."""
    return json.dumps(
        {
            "kind": identity.kind,
            "subject": identity.subject,
            "on_behalf_of": identity.on_behalf_of,
            "scope": identity.scopes.text,
            "client_id": identity.client_id,
            "patient": identity.patient,
            "unrestricted": identity.unrestricted,
        },
        sort_keys=True,
    )


def from_text(text: str) -> Identity:
    """The identity :func:`to_text` kept (its per-request memory starts empty)."""
    parts: dict[str, Any] = json.loads(text)
    unrestricted = bool(parts["unrestricted"])
    return Identity(
        kind=parts["kind"],
        subject=parts["subject"],
        on_behalf_of=parts["on_behalf_of"],
        scopes=ALL_SCOPES if unrestricted else Scopes.parse(parts["scope"]),
        client_id=parts["client_id"],
        patient=parts["patient"],
        unrestricted=unrestricted,
    )


def same_caller(identity: Identity, text: str) -> bool:
    """Whether ``identity`` is the caller who started the job: the same kind, client, person,
    unit, patient and scopes (a token of another client, or of the same client for another
    unit or with other scopes, is someone else)."""
    return to_text(identity) == text

"""What an outbound format is to the app (:class:`Adapter`): its mapping table and the HTTP
endpoints it serves, and how an endpoint learns its caller.  The formats themselves are listed
in :mod:`fhirbridge.adapters.registry`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from fhirbridge.errors import FhirError
from fhirbridge.identity import Identity

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Adapter:
    """One outbound format: its name, its mapping table, and its HTTP endpoints."""

    name: str
    mapping: str
    """The file in ``mappings/`` (without ``.json``) that holds its codes, texts and choices."""
    routes: tuple[tuple[str, str, Endpoint], ...]
    """(method, path, endpoint) triples, outside the FHIR base, that answer with patient data:
    they need an authenticated caller, and are audited."""
    reads: str = "CarePlan"
    """The resource type whose read scope a caller needs (what the answer is mostly made of)."""
    documents: tuple[tuple[str, str, Endpoint], ...] = ()
    """Routes that serve public documents (a WSDL and its schemas): no caller needed."""
    refusal: Callable[[Request, FhirError], Response] | None = None
    """How the adapter answers a refusal or error of its routes (401, 403, 404…) in its own
    kind of answer; None: as the FHIR API does, with an OperationOutcome."""


def caller(request: Request) -> Identity:
    """The authenticated identity of an adapter's request (set by the app before the endpoint runs)."""
    identity: Identity = request.state.identity
    return identity

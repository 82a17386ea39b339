"""Authentication, scope and audit around every request that answers with patient data.

The FHIR routes and the adapters' endpoints (NPÖ, the patient overview) run inside
:func:`audited_call`: the caller is authenticated, the scope checked, the request's identity
given a record of what it touches, and when the answer (or refusal) is known, one AuditEvent
is added to the audit log, naming the request by its id (``X-Request-ID``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.requests import Request

from fhirbridge.audit.events import Seen, audit_events
from fhirbridge.auth.scopes import Permission
from fhirbridge.errors import FhirError
from fhirbridge.fhir.instants import now_us
from fhirbridge.identity import ANONYMOUS, Identity
from fhirbridge.observability.request_id import current_request_id
from fhirbridge.rest.authentication import authenticate
from fhirbridge.rest.interactions.context import ServiceContext


@dataclass
class Call:
    """One audited request: who (once known), what it touched, and how it ended."""

    identity: Identity = ANONYMOUS
    seen: Seen = field(default_factory=Seen)
    status: int = 500
    message: str | None = None


def audit_message(refusal: FhirError) -> str:
    """What the access log keeps of a refusal: why access was refused, else only the kind of
    problem (diagnostics may quote the body, which the log must never hold)."""
    first = refusal.issues[0] if refusal.issues else None
    if first is None:
        return str(refusal.status)
    return first.diagnostics[:300] if refusal.status in (401, 403) else first.code


@asynccontextmanager
async def audited_call(
    request: Request,
    local_base: str,
    *,
    interaction: str,
    operation: str | None = None,
    scope: tuple[str, Permission] | None = None,
    writes: bool = False,
) -> AsyncIterator[Call]:
    """Authenticate (a 401 otherwise), check ``scope`` (type, permission; a 403 otherwise), and
    audit the call whatever its end.  The caller sets ``call.status`` from its response."""
    context: ServiceContext = request.app.state.context
    call = Call()
    try:
        call.identity = await authenticate(request, context.settings, local_base, writes=writes)
        call.identity.decisions["seen"] = call.seen
        if scope is not None:
            context.repository.policy.require_scope(call.identity, *scope)
        yield call
    except FhirError as refusal:
        call.status, call.message = refusal.status, audit_message(refusal)
        raise
    finally:
        if context.audit is not None:
            searched = interaction.startswith(("search", "history"))
            for event in audit_events(
                call.identity,
                interaction=interaction,
                operation=operation,
                status=call.status,
                message=call.message,
                seen=call.seen,
                query=str(request.url.query) if searched else None,
                client_address=request.client.host if request.client else None,
                now_us=now_us(),
                request_id=current_request_id(),
            ):
                await context.audit.add(event)

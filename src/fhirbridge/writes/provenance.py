"""A Provenance for every change to a contract, care team or goal (issue 4; R4 provenance.html).

Who changed what, for which unit, when, and which version, is the revision trail of a
contract that several caregivers edit.  The agent is the authenticated caller: the token's
person (``fhirUser``) acting for its unit, or the system by its client id.  The client may
describe the change in an ``X-Provenance`` header (R4 http.html#provenance: a Provenance
without ``target``): its activity and reason are copied into the Provenance recorded in the
same transaction, with ``target`` set to the versions written.  In development mode (no
authentication) the header's agents are recorded as claimed, and without it the agent is an
unauthenticated client, so the trail has no gaps.

A unit of work records one Provenance for all the tracked resources it changed (a contract
transaction gives one Provenance with five targets).  With an ``X-Provenance`` header every
changed resource is a target, as the specification asks; without it, only
:data:`TRACKED_TYPES`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from fhirbridge.errors import FhirError, bad_request
from fhirbridge.fhir.instants import format_instant
from fhirbridge.fhir.jsonio import DEFAULT_MAX_DEPTH, loads_limited
from fhirbridge.identity import Identity
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

TRACKED_TYPES = frozenset({"CarePlan", "CareTeam", "Goal"})
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
UNAUTHENTICATED = "unauthenticated client (no X-Provenance header)"
_OPERATION = {"create": "CREATE", "update": "UPDATE", "delete": "DELETE"}
Completion = Callable[["UnitOfWork", dict[str, Any]], Awaitable[dict[str, Any]]]
"""What the server makes of a Provenance's ``entity`` before it is stored (the patient whose
proposal a revision accepts, as a contributor: :func:`fhirbridge.contract.patient_messages.credit_patient_messages`)."""


def provenance_for(
    events: Sequence[WriteEvent], template: dict[str, Any] | None, now_us: int, *, who: str = UNAUTHENTICATED
) -> dict[str, Any] | None:
    """The Provenance of a unit of work's changes, or None when nothing it changed is tracked."""
    changed = [
        event
        for event in events
        if event.record.resource_type != "Provenance"
        and not event.by_server  # the server's own records (a signal) are not the caller's change
        and (template is not None or event.record.resource_type in TRACKED_TYPES)
    ]
    if not changed:
        return None
    provenance: dict[str, Any] = dict(template or {})
    provenance.pop("id", None)
    provenance.pop("meta", None)
    provenance["resourceType"] = "Provenance"
    provenance["target"] = [
        {"reference": f"{e.record.resource_type}/{e.record.resource_id}/_history/{e.record.version}"} for e in changed
    ]
    provenance["recorded"] = format_instant(now_us)
    if "activity" not in provenance:
        actions = {_OPERATION[event.action] for event in changed}
        code = actions.pop() if len(actions) == 1 else "UPDATE"
        provenance["activity"] = {"coding": [{"system": DATA_OPERATION, "code": code}]}
    if not provenance.get("agent"):
        provenance["agent"] = [
            {
                "type": {"coding": [{"system": PARTICIPATION_TYPE, "code": "author"}]},
                "who": {"display": who},
            }
        ]
    return provenance


class ProvenanceRecorder:
    """A write listener that stores :func:`provenance_for` in the same transaction, with the
    entities and agents ``complete`` gives it (read by the server, never as the client claims them)."""

    def __init__(self, complete: Completion | None = None) -> None:
        self.complete = complete

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        identity = unit.identity
        template = identity.claimed_provenance
        if not identity.unrestricted and identity.subject is not None:
            template = dict(template or {}, agent=[_authenticated_agent(identity)])
        who = f"{identity.subject} (system)" if identity.kind == "system" else UNAUTHENTICATED
        provenance = provenance_for(events, template, unit.now, who=who)
        if provenance is None:
            return
        if self.complete is not None:
            provenance = await self.complete(unit, provenance)
        validated = validate_resource(
            provenance, "Provenance", url_id=None, local_base=unit.local_base, built_by_server=True
        )
        provenance_id = str(uuid.uuid4())
        if identity.claimed_provenance is not None:  # a missing agent is the header's fault: name it
            unit.locations[("Provenance", provenance_id)] = "X-Provenance"
        await unit.create(validated, provenance_id)


def _authenticated_agent(identity: Identity) -> dict[str, Any]:
    """The token's person (``fhirUser``) and unit as the author; a system by its client id."""
    who: dict[str, Any] = {"display": f"{identity.subject} (system)"}
    if identity.kind != "system":
        who = {"reference": identity.subject}
    agent: dict[str, Any] = {"type": {"coding": [{"system": PARTICIPATION_TYPE, "code": "author"}]}, "who": who}
    if identity.on_behalf_of is not None:
        agent["onBehalfOf"] = {"reference": identity.on_behalf_of}
    return agent


def parse_x_provenance(header: str, local_base: str | None) -> dict[str, Any]:
    """The ``X-Provenance`` header as a Provenance template, or a 400 naming what is wrong.

    The header holds a Provenance in JSON without ``target`` (the server sets it, R4
    http.html#provenance); ``recorded`` is set by the server too.  References in it (the
    agent's ``who`` and ``onBehalfOf``) are checked like any other when the write happens.
    """
    try:
        claimed = loads_limited(header, DEFAULT_MAX_DEPTH, "The X-Provenance header")
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The X-Provenance header is not valid JSON: {exc}", "X-Provenance") from None
    if not isinstance(claimed, dict) or claimed.get("resourceType") != "Provenance":
        raise bad_request("The X-Provenance header must hold a Provenance resource in JSON", "X-Provenance")
    if "target" in claimed:
        raise bad_request("X-Provenance must not name a target: the server sets it", "Provenance.target")
    probe = dict(claimed, target=[{"reference": "Provenance/x-provenance-check"}], recorded="2026-01-01T00:00:00Z")
    try:
        validate_resource(probe, "Provenance", url_id=None, local_base=local_base)
    except FhirError as refusal:
        issues = [replace(issue, diagnostics=f"X-Provenance: {issue.diagnostics}") for issue in refusal.issues]
        raise FhirError(refusal.status, issues) from None
    claimed.pop("recorded", None)
    return claimed

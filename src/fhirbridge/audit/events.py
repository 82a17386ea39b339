"""AuditEvents describing one request (R4 auditevent.html, following the IHE BALP pattern for
RESTful interactions): who (person or client, and the unit acted for), which patients, which
resource versions, the interaction, the outcome, and the reason of an emergency access.

An AuditEvent never holds a resource body: resources are named by versioned reference, and a
search by its query string (``entity.query``), which is the question asked, not the answer.

The request's id (``X-Request-ID``, :mod:`fhirbridge.observability.request_id`) is an entity of
its own, as IHE BALP records it: ``entity.type`` BasicAuditEntityType#XrequestId and the id in
``entity.what.identifier.value`` (R4 AuditEvent.entity.what is a Reference to any resource, and
a Reference may be an identifier alone), so that one request is followed from the client's or
proxy's logs to the service's log lines and to its AuditEvents.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhirbridge.access.compartment import patients_of
from fhirbridge.access.grants import AUDIT_SUBTYPES
from fhirbridge.contract.codes import NOT_FOR_PATIENT, not_for_patient
from fhirbridge.fhir.instants import format_instant
from fhirbridge.fhir.jsonio import loads
from fhirbridge.identity import Identity
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

EVENT_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"}
INTERACTIONS = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CLIENTS = "https://fhirbridge.se/fhir/NamingSystem/oauth-client"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
REQUEST_IDS = "https://fhirbridge.se/fhir/NamingSystem/request-id"
MOST_ENTITIES = 100
_ACTION = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
}
_REFERENCE_TYPES = ("Practitioner/", "PractitionerRole/", "Patient/", "RelatedPerson/", "Organization/", "Device/")


@dataclass
class Seen:
    """What one request touched, gathered on its way through the access policy and the writes."""

    resources: list[str] = field(default_factory=list)
    """Versioned references (``CarePlan/1/_history/3``)."""
    patients: set[str] = field(default_factory=set)
    emergency_reasons: set[str] = field(default_factory=set)
    not_for_patient: set[str] = field(default_factory=set)
    """Those of :attr:`resources` labelled not for the patient: logged in an entry of their own,
    kept from the patient as they are."""

    def note(
        self,
        reference: str,
        patients: frozenset[str],
        emergency_reasons: tuple[str, ...] = (),
        *,
        not_for_patient: bool = False,
    ) -> None:
        self.resources.append(reference)
        self.patients |= patients
        self.emergency_reasons.update(emergency_reasons)
        if not_for_patient:
            self.not_for_patient.add(reference)


def seen_by(identity: Identity) -> Seen | None:
    """What the identity's request touched so far, when its request is being audited."""
    seen = identity.decisions.get("seen")
    return seen if isinstance(seen, Seen) else None


def outcome_code(status: int) -> str:
    """0 success, 4 minor failure (the client's), 8 serious failure (the server's)."""
    return "0" if status < 400 else "4" if status < 500 else "8"


SHAPE_PARAMETERS = frozenset(
    {"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total", "_format", "_pretty", "_cursor"}
)
"""Parameters that shape a result and name nobody: kept as they are in a logged query."""
MASK = "[value]"
NOT_FOR_PATIENT_LABEL = {"system": NOT_FOR_PATIENT[0], "code": NOT_FOR_PATIENT[1]}


def masked(query: str) -> str:
    """The query as the access log keeps it: which parameters were asked, and the values only
    of those that shape the result (:data:`SHAPE_PARAMETERS`); every other value (a personnummer,
    a name, a birth date, another patient's id) is :data:`MASK`.  The patients a request
    reached are named in ``entity.what``; a search's terms may name others, whom a reader of the
    log (the patient, in their own log) may not know of."""
    parts = []
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        if not equals:
            parts.append(name)
            continue
        parts.append(f"{name}={value if name.split(':')[0] in SHAPE_PARAMETERS else MASK}")
    return "&".join(parts)


def agents(identity: Identity, client_address: str | None, emergency: bool) -> list[dict[str, Any]]:
    person: dict[str, Any] = {"requestor": True}
    subject = identity.subject or identity.kind
    if identity.kind != "system" and subject.startswith(_REFERENCE_TYPES):  # a client is never a person
        person["who"] = {"reference": subject}
    else:
        person["who"] = {"type": "Device", "identifier": {"system": CLIENTS, "value": subject}, "display": subject}
    if identity.client_id:
        person["altId"] = identity.client_id
    if client_address:
        person["network"] = {"address": client_address, "type": "2"}
    if emergency:
        person["purposeOfUse"] = [{"coding": [{"system": ACT_REASON, "code": "ETREAT"}]}]
    found = [person]
    if identity.on_behalf_of is not None:
        found.append({"who": {"reference": identity.on_behalf_of}, "requestor": False})
    return found


def audit_events(
    identity: Identity,
    *,
    interaction: str,
    operation: str | None,
    status: int,
    message: str | None,
    seen: Seen,
    query: str | None,
    client_address: str | None,
    now_us: int,
    request_id: str | None = None,
) -> list[dict[str, Any]]:
    """The AuditEvents of one request: one, and a second naming what it touched that is not
    for the patient (labelled so itself), so that the patient's own log shows every access to
    their data and nothing of what is kept from them."""

    def entry(resources: list[str], logged_query: str | None) -> dict[str, Any]:
        part = Seen(resources, seen.patients, seen.emergency_reasons)
        return audit_event(
            identity,
            interaction=interaction,
            operation=operation,
            status=status,
            message=message,
            seen=part,
            query=logged_query,
            client_address=client_address,
            now_us=now_us,
            request_id=request_id,
        )

    events = [entry([r for r in seen.resources if r not in seen.not_for_patient], query)]
    if seen.not_for_patient:
        private = entry([r for r in seen.resources if r in seen.not_for_patient], None)
        private["meta"] = {"security": [NOT_FOR_PATIENT_LABEL]}
        events.append(private)
    return events


def audit_event(
    identity: Identity,
    *,
    interaction: str,
    operation: str | None,
    status: int,
    message: str | None,
    seen: Seen,
    query: str | None,
    client_address: str | None,
    now_us: int,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The AuditEvent of one request (``request_id``: its ``X-Request-ID``, see the module)."""
    subtype = [{"system": INTERACTIONS, "code": interaction}]
    if operation is not None:
        subtype.append({"system": AUDIT_SUBTYPES, "code": operation})
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": f"Patient/{patient}"},
            "type": {"system": ENTITY_TYPE, "code": "1"},
            "role": {"system": OBJECT_ROLE, "code": "1"},
        }
        for patient in sorted(seen.patients)
    ]
    entities += [
        {"what": {"reference": reference}, "type": {"system": ENTITY_TYPE, "code": "2"}}
        for reference in seen.resources[:MOST_ENTITIES]
    ]
    if query:
        entities.append(
            {
                "type": {"system": ENTITY_TYPE, "code": "2"},
                "role": {"system": OBJECT_ROLE, "code": "24"},
                "query": base64.b64encode(masked(query).encode()).decode(),
            }
        )
    if request_id:
        entities.append(
            {
                "what": {"identifier": {"system": REQUEST_IDS, "value": request_id}},
                "type": {"system": BALP_ENTITY_TYPE, "code": "XrequestId"},
            }
        )
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": EVENT_TYPE,
        "subtype": subtype,
        "action": _ACTION.get(interaction, "E"),
        "recorded": format_instant(now_us),
        "outcome": outcome_code(status),
        "agent": agents(identity, client_address, bool(seen.emergency_reasons)),
        "source": {"observer": {"display": "fhirbridge"}, "type": [{"system": SOURCE_TYPE, "code": "4"}]},
    }
    description = f"HTTP {status}" + (f": {message}" if message else "")
    if len(seen.resources) > MOST_ENTITIES:
        description += f" ({len(seen.resources)} resources, the first {MOST_ENTITIES} named)"
    event["outcomeDesc"] = description[:1000]
    if seen.emergency_reasons:
        reason = "; ".join(sorted(seen.emergency_reasons))
        event["purposeOfEvent"] = [{"coding": [{"system": ACT_REASON, "code": "ETREAT"}], "text": reason}]
    if entities:
        event["entity"] = entities
    return event


class AuditedWrites:
    """A write listener noting every version a request writes, and whose data it is, for the
    request's AuditEvent (it writes nothing itself)."""

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        seen = seen_by(unit.identity)
        if seen is None or unit.dry_run:  # a dry run's versions never exist
            return
        for event in events:
            if event.by_server:  # the server's own records of the change (a Provenance, a signal)
                continue
            record = event.record
            content = event.resource
            if content is None and event.previous is not None and event.previous.content is not None:
                content = loads(event.previous.content)
            patients = patients_of(record.resource_type, content) if content is not None else None
            seen.note(
                f"{record.resource_type}/{record.resource_id}/_history/{record.version}",
                patients or frozenset(),
                not_for_patient=content is not None and not_for_patient(content),
            )

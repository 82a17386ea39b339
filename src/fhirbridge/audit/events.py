"""AuditEvents describing one request (R4 auditevent.html, following the IHE BALP pattern for
RESTful interactions): who (person or client, and the unit acted for), which patients, which
resource versions, the interaction, the outcome, and the reason of an emergency access.

An AuditEvent never holds a resource body: resources are named by versioned reference, and a
search by its query string (``entity.query``), which is the question asked, not the answer.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhirbridge.access.compartment import patients_of
from fhirbridge.access.facts import AUDIT_SUBTYPES
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
MOST_ENTITIES = 100
_ACTION = {"create": "C", "read": "R", "vread": "R", "history-instance": "R", "update": "U", "delete": "D"}
_REFERENCE_TYPES = ("Practitioner/", "PractitionerRole/", "Patient/", "RelatedPerson/", "Organization/", "Device/")


@dataclass
class Seen:
    """What one request touched, gathered on its way through the access policy and the writes."""

    resources: list[str] = field(default_factory=list)
    """Versioned references (``CarePlan/1/_history/3``)."""
    patients: set[str] = field(default_factory=set)
    emergency_reasons: set[str] = field(default_factory=set)

    def note(self, reference: str, patients: frozenset[str], emergency_reasons: tuple[str, ...] = ()) -> None:
        self.resources.append(reference)
        self.patients |= patients
        self.emergency_reasons.update(emergency_reasons)


def seen_by(identity: Identity) -> Seen | None:
    """What the identity's request touched so far, when its request is being audited."""
    seen = identity.decisions.get("seen")
    return seen if isinstance(seen, Seen) else None


def outcome_code(status: int) -> str:
    """0 success, 4 minor failure (the client's), 8 serious failure (the server's)."""
    return "0" if status < 400 else "4" if status < 500 else "8"


_PERSON_NUMBER = re.compile(
    r"(?:(?<![0-9A-Za-z-])|(?<=%7C)|(?<=%7c)|(?<=%2C)|(?<=%2c))"  # a value of its own, not part of an id
    r"(?:[0-9]{2})?[0-9]{6}(?:[-+ ]|%2[Bb]|%20)?[0-9]{4}(?![0-9A-Za-z])"
)
MASK = "[personnummer]"
_SYSTEM_AND_VALUE = re.compile(r"^(?P<system>.*(?:\||%7C))?.*$", re.IGNORECASE)
_IDENTIFIER_PARAMETER = re.compile(r"(?P<name>(?:^|(?<=&))[^=&]*identifier[^=&]*)=(?P<values>[^&]*)", re.IGNORECASE)


def masked(query: str) -> str:
    """The query with every personnummer or samordningsnummer (10 or 12 digits, with or without
    a separator) replaced by :data:`MASK`, and the value of every identifier parameter
    (``identifier=system|value``, ``subject:Patient.identifier=…``) by ``[identifier]`` (its
    system kept): the log names the patients a request reached in ``entity.what``, and a query
    may name others (a combined lookup) whom a reader of the log may not know of."""
    return _IDENTIFIER_PARAMETER.sub(_mask_identifier, _PERSON_NUMBER.sub(MASK, query))


def _mask_identifier(match: re.Match[str]) -> str:
    """``name=system|value,…`` with each value masked and its system kept."""
    values = [_SYSTEM_AND_VALUE.sub(r"\g<system>[identifier]", value) for value in match.group("values").split(",")]
    return match.group("name") + "=" + ",".join(values)


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
) -> dict[str, Any]:
    """The AuditEvent of one request."""
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
        if seen is None:
            return
        for event in events:
            record = event.record
            content = event.resource
            if content is None and event.previous is not None and event.previous.content is not None:
                content = loads(event.previous.content)
            patients = patients_of(record.resource_type, content) if content is not None else None
            seen.note(f"{record.resource_type}/{record.resource_id}/_history/{record.version}", patients or frozenset())

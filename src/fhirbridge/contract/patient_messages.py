"""The patient as co-author (issue 14.2; seed 002: "Patienten ska själv kunna kommunicera i
systemet"; seed 003: the patient can add information and initiate activities).

A patient, or a relative the patient lets do so (a share with the ``foresla`` action, see
:mod:`fhirbridge.access.facts`), proposes a change to what matters to them
(``forslag-vad-ar-viktigt``) or to what they do themselves (``forslag-egen-insats``), asks a
question (``fraga``) or asks for a new time (``ny-tid``): a ``Communication`` whose category
is from :data:`~fhirbridge.contract.codes.PATIENT_MESSAGE_SYSTEM`, ``subject`` the patient,
``about`` the contract, ``payload`` the text, ``status`` ``in-progress`` (awaiting a reply).

The server addresses it (:func:`address_patient_message`, a write enricher): the recipient is
the patient's fixed care contact (whose journal's ``Communication?recipient=…`` subscription,
the signal's, then receives it), else the contract's author; the sender is the caller.  A
message never changes the contract: the care team accepts a proposal by writing the revision
with an ``X-Provenance`` header whose ``entity`` names the message as its ``source``
(:func:`contributors_of`: the Provenance then names its sender as a contributor), answers it
with a Communication ``inResponseTo`` the message, and sets the message ``completed``.  Who may
write which part is the access policy's (:mod:`fhirbridge.access.policy`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from fhirbridge.contract.codes import is_contract, patient_message_kind
from fhirbridge.contract.fixed_contact_rule import local_patient
from fhirbridge.contract.signal import fixed_care_contacts, recipient
from fhirbridge.errors import FhirError, Issue, error, invalid
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.validation.json_form import FoundReference
from fhirbridge.validation.pipeline import ValidatedResource

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

PENDING = "in-progress"
"""A message awaiting the care team's reply ("Väntar på svar")."""
ANSWERED = "completed"
SOURCE = "source"
"""``Provenance.entity.role``: the revision was made from this message (R4 provenance-entity-role)."""
CONTRIBUTOR = "contributor"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def is_patient_message(resource: dict[str, Any] | None) -> bool:
    return (
        resource is not None
        and resource.get("resourceType") == "Communication"
        and bool(patient_message_kind(resource))
    )


async def address_patient_message(unit: UnitOfWork, validated: ValidatedResource) -> ValidatedResource:
    """A write enricher: check a patient's message names a contract of its patient, and address
    it to the fixed care contact (else the contract's author) from the caller."""
    message = validated.resource
    if validated.resource_type != "Communication" or not is_patient_message(message):
        return validated
    patient_id = local_patient(message, unit.local_base)
    if patient_id is None:
        raise _refused("A patient's message names the patient as subject (Patient/[id])", "Communication.subject")
    plan = await _contract_about(unit, message, patient_id)
    if not any(isinstance(p, dict) and str(p.get("contentString") or "").strip() for p in message.get("payload") or []):
        raise _refused("A patient's message holds its text in payload.contentString", "Communication.payload")
    contacts = await fixed_care_contacts(unit, patient_id, seen_by_caller=True)
    author = (plan.get("author") or {}).get("reference")
    addressed = [recipient(key) for key in contacts] or ([{"reference": author}] if isinstance(author, str) else [])
    if not addressed:
        raise _refused(
            "The patient has no fixed care contact and the contract names no author: there is nobody to send it to",
            "Communication.recipient",
        )
    enriched = copy.copy(message)
    references = list(validated.references)
    named = message.get("recipient")
    if unit.identity.kind == "patient" and named and _keys(named) != _keys(addressed):
        raise _refused(
            "A patient's message goes to the fixed care contact: leave recipient out, the server fills it in",
            "Communication.recipient",
        )
    if not named:
        enriched["recipient"] = addressed
        references += _found(addressed, "Communication.recipient")
    if unit.identity.kind == "patient" and unit.identity.subject and not message.get("sender"):
        enriched["sender"] = {"reference": unit.identity.subject}
        references += _found([enriched["sender"]], "Communication.sender")
    if not await _sent_by_patient_or_relative(unit, enriched.get("sender"), patient_id):
        raise _refused(
            "A patient's message is sent by the patient (the subject) or by a relative of theirs (RelatedPerson), "
            "named by reference",
            "Communication.sender",
        )
    return ValidatedResource("Communication", enriched, tuple(references), validated.sites)


async def _sent_by_patient_or_relative(unit: UnitOfWork, sender: Any, patient_id: str) -> bool:
    """Whether a patient's message names as sender the patient or a RelatedPerson of the patient
    (whoever relays it: a 1177 front end's service, a clinician recording a phone call): only
    they are credited as co-authors of a revision (thirteenth review: any other sender made
    the server vouch for another patient or a stranger as a contributor)."""
    text = sender.get("reference") if isinstance(sender, dict) else None
    parsed = parse_reference(text, unit.local_base) if isinstance(text, str) else None
    if parsed is None or parsed.kind != "local" or not parsed.resource_id:
        return False
    if parsed.resource_type == "Patient":
        return parsed.resource_id == patient_id
    if parsed.resource_type != "RelatedPerson":
        return False
    record = await unit.read("RelatedPerson", parsed.resource_id)
    person = loads(record.content) if record is not None and record.content is not None else {}
    return local_patient({"subject": person.get("patient")}, unit.local_base) == patient_id


async def _contract_about(unit: UnitOfWork, message: dict[str, Any], patient_id: str) -> dict[str, Any]:
    """The contract a message is about: one CarePlan in ``about``, a live contract of the message's
    patient that the caller may see; anything else (another patient's plan too) is answered alike."""
    plans = [
        parsed
        for about in message.get("about") or []
        if isinstance(about, dict)
        and isinstance(about.get("reference"), str)
        and (parsed := parse_reference(about["reference"], unit.local_base)) is not None
        and parsed.kind == "local"
        and parsed.resource_type == "CarePlan"
        and parsed.resource_id
    ]
    # 403 alike for another patient's plan, a plan that is no contract and one that does not
    # exist (issue 14: a patient cannot propose on someone else's plan), so it tells nothing
    refusal = FhirError(
        403,
        [
            Issue(
                "error",
                "forbidden",
                f"A patient's message is about one contract of Patient/{patient_id} that you may see "
                "(about: CarePlan/[id]); this one names none",
                ("Communication.about",),
            )
        ],
    )
    if len(plans) != 1:
        raise refusal
    record = await unit.read("CarePlan", str(plans[0].resource_id))
    if record is None or record.deleted or record.content is None:
        raise refusal
    if unit.knows is not None and unit.guard is not None and not await unit.knows(unit, record):
        raise refusal
    plan: dict[str, Any] = loads(record.content)
    if not is_contract(plan) or local_patient(plan, unit.local_base) != patient_id:
        raise refusal
    return plan


async def credit_patient_messages(unit: UnitOfWork, provenance: dict[str, Any]) -> dict[str, Any]:
    """A Provenance whose ``entity`` names, with role ``source``, the patients' messages a revision
    was made from, and whose agents then name each message's sender as a ``contributor``: read
    from the stored message, never as the client claims it.  A message must be about a patient of
    the resources written and be one the caller may see (422 otherwise); every other entity the
    client sent is left out (the server records only what it can vouch for)."""
    patients = {local_patient(e.resource, unit.local_base) for e in unit.events if e.resource is not None}
    entities: list[dict[str, Any]] = []
    agents: list[dict[str, Any]] = []
    for index, entity in enumerate(provenance.get("entity") or []):
        what = (entity.get("what") or {}).get("reference") if isinstance(entity, dict) else None
        parsed = parse_reference(what, unit.local_base) if isinstance(what, str) else None
        if entity.get("role") != SOURCE or parsed is None or parsed.resource_type != "Communication":
            if unit.identity.unrestricted:  # development mode records the header as claimed
                entities.append(entity)
            continue
        record = await unit.read("Communication", str(parsed.resource_id))
        message = loads(record.content) if record is not None and record.content is not None else None
        known = record is not None and (unit.knows is None or unit.guard is None or await unit.knows(unit, record))
        about = local_patient(message or {}, unit.local_base)
        if not known or not is_patient_message(message) or about is None or about not in patients:
            raise _refused(
                f"{what} is no patient's message about the resources written that you may see",
                f"X-Provenance: Provenance.entity[{index}].what",
            )
        entities.append({"role": SOURCE, "what": {"reference": f"Communication/{parsed.resource_id}"}})
        sender = (message or {}).get("sender") or {}
        agent = {"type": {"coding": [{"system": PARTICIPATION_TYPE, "code": CONTRIBUTOR}]}, "who": sender}
        credited = await _sent_by_patient_or_relative(unit, sender, about)  # the stored message may predate the rule
        if credited and agent not in agents:
            agents.append(agent)
    completed = {key: value for key, value in provenance.items() if key != "entity"}
    if entities:
        completed["entity"] = entities
    completed["agent"] = [*provenance.get("agent", []), *agents]
    return completed


def _keys(references: list[Any]) -> list[str]:
    return sorted(str((r or {}).get("reference") or (r or {}).get("identifier")) for r in references)


def _found(references: list[dict[str, Any]], path: str) -> list[FoundReference]:
    found = []
    for index, reference in enumerate(references):
        parsed = parse_reference(reference["reference"]) if isinstance(reference.get("reference"), str) else None
        if parsed is not None:
            found.append(FoundReference(f"{path}[{index}]" if path.endswith("recipient") else path, parsed))
    return found


def _refused(diagnostics: str, expression: str) -> Exception:
    return invalid([error("invalid", diagnostics, expression)], status=422)

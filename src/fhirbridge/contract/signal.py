"""The signal to the fixed care contact (seed 001: "ska fasta vårdkontakten få en signal").

When someone other than the patient's fixed care contact establishes or revises the patient's
contract, the contact must learn of it.  :class:`FixedContactSignal`, a write listener, then
records a Communication from the writer to the contact about that version of the contract, in
the same transaction.  Whoever serves the contact (their journal system, a notification
service) subscribes to ``Communication?recipient={the contact}``; the outbox delivers it
(:mod:`fhirbridge.notifications`).

Who wrote is the identity's ``subject`` (the ``X-Provenance`` agent until authentication
exists).  A writer who is the contact, as the PractitionerRole or as the Practitioner behind
it, gets no signal about their own change; an unknown writer is someone else.

A plan a contract links (a municipality's SIP, a COPD care plan: :mod:`.linked_plans`) changes
the patient's situation too: when it is revised, the same signal goes to the fixed care contact
of each contract that links it, about the plan's new version and the contract (issue 15.3).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fhirbridge.contract.codes import NOT_FOR_PATIENT, is_contract, not_for_patient
from fhirbridge.contract.fixed_contact_rule import People, local_patient
from fhirbridge.contract.fixed_contacts import FIXED_CARE_CONTACT, active_assignments
from fhirbridge.contract.fixed_contacts import member_key as normalise
from fhirbridge.contract.linked_plans import contracts_linking
from fhirbridge.fhir.instants import format_instant
from fhirbridge.fhir.jsonio import loads
from fhirbridge.storage import store
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/communication-category"
ESTABLISHED = "Patientkontraktet har upprättats"
REVISED = "Patientkontraktet har reviderats"
LINKED_PLAN_REVISED = "En länkad plan har ändrats"


class FixedContactSignal:
    """A write listener: a Communication to the fixed care contact about each contract change."""

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        for event in events:
            plan = event.resource
            if event.record.resource_type != "CarePlan" or plan is None:
                continue
            patient_id = local_patient(plan, unit.local_base)
            if patient_id is None:
                continue
            if is_contract(plan):
                await _signal(unit, patient_id, _communication(unit, event, plan, f"Patient/{patient_id}"))
            elif event.previous is not None and not event.previous.deleted:
                await _signal_linked_revision(unit, event, plan, patient_id)


async def _signal(unit: UnitOfWork, patient_id: str, communication: dict[str, Any]) -> None:
    """Record the Communication to each of the patient's fixed care contacts but the writer."""
    people = People(unit)
    for member_key in await fixed_care_contacts(unit, patient_id):
        if await _is_the_writer(unit, people, member_key):
            continue
        addressed = dict(copy.deepcopy(communication), recipient=[recipient(member_key)])
        validated = validate_resource(
            addressed, "Communication", url_id=None, local_base=unit.local_base, built_by_server=True
        )
        await unit.create(validated)


async def _signal_linked_revision(unit: UnitOfWork, event: WriteEvent, plan: dict[str, Any], patient_id: str) -> None:
    """The signal about a revised plan to the fixed care contact of each contract of the same
    patient that links it."""
    for contract_id, version, contract in await contracts_linking(unit, event.record.resource_id):
        if local_patient(contract, unit.local_base) != patient_id:
            continue  # the link rule keeps links within one patient; a plan moved since is not signalled
        linked_from = (f"{contract_id}/_history/{version}", contract)
        communication = _communication(unit, event, plan, f"Patient/{patient_id}", linked_from=linked_from)
        await _signal(unit, patient_id, communication)


async def fixed_care_contacts(unit: UnitOfWork, patient_id: str, *, seen_by_caller: bool = False) -> list[str]:
    """The member keys of the patient's fixed care contacts now, in any of their live CareTeams;
    ``seen_by_caller``: only in the care teams the unit's caller sees whole (what the server
    does for a patient's or relative's message must not tell of a blocked unit's team:
    thirteenth review)."""
    teams = await store.live_referrers_by_param(unit.conn, "CareTeam", "subject", "Patient", patient_id)
    if seen_by_caller and not unit.identity.unrestricted and unit.sees is not None:
        teams = [team for team in teams if await unit.sees(unit, team)]
    contacts = {
        assignment.member_key: assignment
        for team in teams
        for assignment in active_assignments(loads(team.content or b"{}"), unit.now, unit.local_base)
        if assignment.role == FIXED_CARE_CONTACT
    }
    return list(contacts)


async def _is_the_writer(unit: UnitOfWork, people: People, member_key: str) -> bool:
    """Whether the writer is this member, as the same role or as the person behind it."""
    subject = unit.identity.subject
    writer = normalise({"reference": subject}, unit.local_base) if subject else None
    return writer is not None and await people.of(writer) == await people.of(member_key)


def _communication(
    unit: UnitOfWork,
    event: WriteEvent,
    plan: dict[str, Any],
    patient: str,
    *,
    linked_from: tuple[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The signal about this version of ``plan`` (a contract, or a plan the contract
    ``linked_from`` (its ``id/_history/version`` and content) links), without its recipient."""
    established = event.previous is None or event.previous.deleted
    topic = LINKED_PLAN_REVISED if linked_from else ESTABLISHED if established else REVISED
    claimed = unit.identity.claimed_provenance or {}
    agent = (claimed.get("agent") or [{}])[0]
    who = (agent.get("who") or {}).get("display") or unit.identity.subject or "okänd avsändare (ej inloggad)"
    unit_name = (agent.get("onBehalfOf") or {}).get("display")
    by = f"{who}, {unit_name}" if unit_name else who
    title = plan.get("title") or ("den länkade planen" if linked_from else "patientkontraktet")
    about = [{"reference": f"CarePlan/{event.record.resource_id}/_history/{event.record.version}"}]
    text = f"{topic}: {title} (version {event.record.version}), av {by}."
    if linked_from is not None:
        contract_version, contract = linked_from
        about.append({"reference": f"CarePlan/{contract_version}"})
        text = text[:-1] + f", länkad från {contract.get('title') or 'patientkontraktet'}."
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": "notification"}]}],
        "priority": "routine",
        "subject": {"reference": patient},
        "topic": {"text": topic},
        "about": about,
        "sent": format_instant(unit.now),
        "payload": [{"contentString": text}],
    }
    sender = unit.identity.subject
    if sender and "/" in sender and unit.identity.kind != "system":
        communication["sender"] = {"reference": sender}
    hidden = not_for_patient(plan) or (linked_from is not None and not_for_patient(linked_from[1]))
    if hidden:  # a message about what the patient may not see is not for them either
        communication["meta"] = {"security": [{"system": NOT_FOR_PATIENT[0], "code": NOT_FOR_PATIENT[1]}]}
    return communication


def recipient(member_key: str) -> dict[str, Any]:
    """A member key (see :class:`~fhirbridge.contract.fixed_contacts.Assignment`) as a Reference."""
    system, bar, value = member_key.partition("|")
    if bar and "/" not in value:
        return {"identifier": {"system": system, "value": value}} if system else {"identifier": {"value": value}}
    return {"reference": member_key}

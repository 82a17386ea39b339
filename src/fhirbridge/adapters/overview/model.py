"""The patient's overview of their contracts, in the order seed 003 asks for (pure).

For each contract the patient may see: what matters to me and my goals; my next time and next
step; what I do myself (my part, self-care, when to seek care); what care does; whom I turn to
(the fixed care contact and fixed doctor with phone, channels and hours, and the other care
contacts); my other plans and who holds them; when the plan was last revised and by whom.
Contracts labelled ``NOPATIENT`` (v3-ActCode) in ``meta.security`` are left out, as are drafts
(not yet agreed with the patient) and entered-in-error and revoked ones.  Texts come from ``mappings/overview.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fhirbridge.contract.care_contacts import CareContact
from fhirbridge.contract.codes import (
    ACTIVITY_KIND_SYSTEM,
    CONTACT_CHANNEL_SYSTEM,
    CONTACT_CHANNELS,
    GOAL_KIND_SYSTEM,
    PLAN_TYPE_SYSTEM,
    PLAN_TYPES,
    is_contract,
    not_for_patient,
)
from fhirbridge.contract.people import display_name, person_of
from fhirbridge.fhir.instants import to_datetime
from fhirbridge.search.dates import LOCAL_ZONE, first_instant

HIDDEN_STATUSES = frozenset({"entered-in-error", "revoked", "draft"})
"""Not shown to the patient: plans in error, withdrawn, or not yet agreed (a draft)."""
WEEKDAYS = {"mon": "mån", "tue": "tis", "wed": "ons", "thu": "tors", "fri": "fre", "sat": "lör", "sun": "sön"}


@dataclass
class Contact:
    role: str
    name: str
    unit: str | None
    phones: list[str]
    hours: list[str]


@dataclass
class Goal:
    kind: str
    text: str


@dataclass
class NextTime:
    when: str | None
    what: str


@dataclass
class OtherPlan:
    title: str
    kind: str
    held_by: str | None


@dataclass
class ContractOverview:
    title: str
    what_matters: list[Goal] = field(default_factory=list)
    next_times: list[NextTime] = field(default_factory=list)
    my_part: list[str] = field(default_factory=list)
    self_care: list[str] = field(default_factory=list)
    when_to_seek_care: list[str] = field(default_factory=list)
    care_does: list[str] = field(default_factory=list)
    whom_to_contact: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    fixed_care_contact: list[Contact] = field(default_factory=list)
    fixed_doctor: list[Contact] = field(default_factory=list)
    other_contacts: list[Contact] = field(default_factory=list)
    other_plans: list[OtherPlan] = field(default_factory=list)
    last_revised: str | None = None
    revised_by: str | None = None


@dataclass
class Overview:
    patient_name: str
    contracts: list[ContractOverview]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def visible_to_patient(plan: dict[str, Any]) -> bool:
    return not not_for_patient(plan) and plan.get("status") not in HIDDEN_STATUSES


def overview(
    patient: dict[str, Any],
    plans: list[dict[str, Any]],
    resolved: dict[str, dict[str, Any]],
    contacts: list[CareContact],
    revisions: dict[str, tuple[str | None, str | None]],
) -> Overview:
    """``revisions`` maps a contract's id to (when, by whom) it was last revised."""
    contracts = [p for p in plans if is_contract(p) and visible_to_patient(p)]
    others = [p for p in plans if not is_contract(p) and visible_to_patient(p)]
    return Overview(
        patient_name=display_name(patient) or "",
        contracts=[
            _contract(c, others, resolved, contacts, revisions.get(str(c.get("id")), (None, None))) for c in contracts
        ],
    )


def _contract(
    plan: dict[str, Any],
    others: list[dict[str, Any]],
    resolved: dict[str, dict[str, Any]],
    contacts: list[CareContact],
    revision: tuple[str | None, str | None],
) -> ContractOverview:
    result = ContractOverview(title=str(plan.get("title") or "Mitt patientkontrakt"))
    for reference in plan.get("goal", []):
        goal = resolved.get(str(reference.get("reference")))
        if goal is not None and (goal.get("description") or {}).get("text"):
            kind = _code(goal.get("category", []), GOAL_KIND_SYSTEM) or "mal"
            result.what_matters.append(Goal(kind, str(goal["description"]["text"])))
    lists = {
        "egen-insats": result.my_part,
        "egenvard": result.self_care,
        "nar-soka-vard": result.when_to_seek_care,
        "vardens-insats": result.care_does,
        "kontaktvag": result.whom_to_contact,
    }
    for activity in plan.get("activity", []):
        detail = activity.get("detail") or {}
        activity_kind = _code([detail.get("code") or {}], ACTIVITY_KIND_SYSTEM)
        text = str(detail.get("description") or "")
        if activity_kind == "nasta-kontakt":
            result.next_times.append(NextTime(_when(detail), text))
        elif activity_kind in lists and text:
            lists[activity_kind].append(text)
        for extension in detail.get("extension", []):
            coding = extension.get("valueCoding") or {}
            if coding.get("system") == CONTACT_CHANNEL_SYSTEM and coding.get("code") in CONTACT_CHANNELS:
                result.channels.append(CONTACT_CHANNELS[coding["code"]])
    for contact in contacts:
        entry = Contact(
            contact.role.get("display", ""),
            contact.name,
            (contact.unit or {}).get("display"),
            list(contact.phones),
            [_hours(h) for h in contact.hours],
        )
        {"fixedCareContact": result.fixed_care_contact, "fixedDoctor": result.fixed_doctor}.get(
            contact.kind, result.other_contacts
        ).append(entry)
    for other in others:
        plan_kind = _code(other.get("category", []), PLAN_TYPE_SYSTEM)
        held_by = _holder(other.get("author") or {}, resolved)
        result.other_plans.append(
            OtherPlan(str(other.get("title") or ""), PLAN_TYPES.get(str(plan_kind), "Annan plan"), held_by)
        )
    result.last_revised, result.revised_by = revision
    return result


def _holder(reference: dict[str, Any], resolved: dict[str, dict[str, Any]]) -> str | None:
    """Who holds a plan: a unit's name, a person's (a role's practitioner), or the display."""
    holder = display_name(person_of(resolved.get(str(reference.get("reference"))), resolved))
    display = reference.get("display")
    return holder or (str(display) if isinstance(display, str) else None)


def _code(concepts: list[dict[str, Any]], system: str) -> str | None:
    for concept in concepts:
        for coding in concept.get("coding", []):
            if coding.get("system") == system and coding.get("code"):
                return str(coding["code"])
    return None


def _when(detail: dict[str, Any]) -> str | None:
    """The scheduled time in Swedish local time, ``2026-12-31 kl. 14:00``."""
    start = (detail.get("scheduledPeriod") or {}).get("start") or detail.get("scheduledString")
    first = first_instant(start)
    if first is None:
        return start if isinstance(start, str) else None
    return to_datetime(first).astimezone(LOCAL_ZONE).strftime("%Y-%m-%d kl. %H:%M")


def _hours(text: str) -> str:
    """``mon tue wed thu fri 08:00-16:00`` in Swedish: ``mån–fre 08:00–16:00``."""
    parts = text.split()
    days = [WEEKDAYS.get(p, p) for p in parts[:-1]]
    span = f"{days[0]}–{days[-1]}" if len(days) > 2 else " ".join(days)
    return f"{span} {parts[-1].replace('-', '–')}".strip() if parts else text

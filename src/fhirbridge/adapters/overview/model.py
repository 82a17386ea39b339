"""The patient's overview of their contracts, in the order seed 003 asks for (pure).

For each contract the patient may see: that it is the agreement made with them, when it was
agreed and last revised and by which unit; what matters to me in my own words, apart from the
care team's goals; my next visit (when, where, by video, how to change it) and next steps; what
I do myself; what care does; whom I turn to (the fixed care contact and fixed doctor with
phone, hours and the agreed ways to reach them, the others who help, my relatives); my other
plans and who is responsible for them; what I proposed or asked that awaits a reply, and what
was answered (issue 14.2); and my answers to the seven questions.  Contracts labelled ``NOPATIENT`` (v3-ActCode) in
``meta.security`` are left out, as are drafts (not yet agreed with the patient) and
entered-in-error and revoked ones.

The model holds data and codes, not words: :mod:`.page` puts it into the reader's language.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fhirbridge.adapters.overview.visits import Visit, channels_of, hsa_id_of, next_visit
from fhirbridge.contract.care_contacts import RELATIVE, CareContact
from fhirbridge.contract.care_network import unversioned
from fhirbridge.contract.codes import (
    ACTIVITY_KIND_SYSTEM,
    CARE_ROLE_SYSTEM,
    GOAL_KIND_SYSTEM,
    PLAN_TYPE_SYSTEM,
    PLAN_TYPES,
    is_contract,
    not_for_patient,
    patient_message_kind,
)
from fhirbridge.contract.fixed_contacts import has_ended
from fhirbridge.contract.people import display_name, person_of

SEVEN_QUESTIONS = "https://fhirbridge.se/fhir/Questionnaire/seven-questions-patient"
WITHDRAWN_MESSAGES = frozenset({"entered-in-error", "stopped", "not-done"})
HIDDEN_STATUSES = frozenset({"entered-in-error", "revoked", "draft"})
"""Not shown to the patient: plans in error, withdrawn, or not yet agreed (a draft)."""
Resources = dict[str, dict[str, Any]]


@dataclass
class Contact:
    kind: str
    """``fixedCareContact``, ``fixedDoctor`` or ``treatingRole``."""
    role: str
    """The care-role code (its words are in the mapping table)."""
    role_display: str
    name: str
    member: str | None
    unit: str | None
    unit_hsa_id: str | None
    phones: list[str]
    hours: list[str]
    """``mon tue wed thu fri 08:00-16:00``: the PractitionerRole's availableTime."""
    profession: str | None = None
    """The PractitionerRole's own care-role code (``diabetessjukskoterska``), when it has one."""
    channels: list[str] = field(default_factory=list)
    """The agreed ways to reach this contact (contact-channel codes), on the contact the
    contract's ``kontaktvag`` activity names (else the fixed care contact)."""


@dataclass
class Relative:
    name: str
    relationship: str | None
    """A v3-RoleCode (``CHILD``), when the data has one."""
    relationship_text: str | None
    phones: list[str]


@dataclass
class Goal:
    kind: str
    text: str
    expressed_by: str
    """``patient``, ``relative`` or ``care`` (who expressed it decides where it is shown)."""
    said_by: str | None = None
    """The relative's name, for a goal a relative expressed."""


@dataclass
class OtherPlan:
    title: str
    kind: str
    """The plan-type code (``sip``), ``other`` when it has none."""
    kind_display: str
    held_by: str | None
    linked: bool
    """Whether the contract links to it (``supportingInfo`` or ``basedOn``)."""


@dataclass
class Revision:
    when: str | None
    """The last revision's time (a FHIR instant or dateTime)."""
    unit: str | None
    """The unit that made it, by name; None when no Provenance names one."""
    with_patient: bool = False
    """Whether it was made from the patient's proposal (the patient a ``contributor`` agent)."""


@dataclass
class Message:
    """What the patient (or a relative) proposed or asked about the contract, and the reply."""

    kind: str
    """A patient-message code (``fraga``); its words are in the mapping table."""
    text: str
    sent: str | None
    sent_by: str | None
    """A relative's name, when a relative sent it."""
    answered: bool
    reply: str | None = None


@dataclass
class Answers:
    """The patient's latest answers to the seven questions (seed 003)."""

    authored: str | None
    answers: list[tuple[str, bool]]
    """(linkId, yes) in the questionnaire's order."""


@dataclass
class ContractOverview:
    title: str
    agreed: str | None = None
    """When the contract was agreed with the patient: ``created``, else ``period.start``."""
    last_revised: str | None = None
    revised_by: str | None = None
    revised_with_patient: bool = False
    awaiting: list[Message] = field(default_factory=list)
    answered: list[Message] = field(default_factory=list)
    what_matters: list[Goal] = field(default_factory=list)
    care_goals: list[Goal] = field(default_factory=list)
    next_visit: Visit | None = None
    next_steps: list[str] = field(default_factory=list)
    my_part: list[str] = field(default_factory=list)
    self_care: list[str] = field(default_factory=list)
    when_to_seek_care: list[str] = field(default_factory=list)
    care_does: list[str] = field(default_factory=list)
    whom_to_contact: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    fixed_care_contact: list[Contact] = field(default_factory=list)
    fixed_doctor: list[Contact] = field(default_factory=list)
    other_contacts: list[Contact] = field(default_factory=list)
    relatives: list[Relative] = field(default_factory=list)
    other_plans: list[OtherPlan] = field(default_factory=list)


@dataclass
class Overview:
    patient_name: str
    contracts: list[ContractOverview]
    answers: Answers | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sources:
    """What the endpoint read for the overview, besides the plans."""

    resolved: Resources
    """Goals, RelatedPersons, Locations, roles, people and units by local reference."""
    contacts: list[CareContact]
    teams: list[dict[str, Any]]
    revisions: dict[str, Revision]
    """By contract id."""
    appointments: dict[str, list[dict[str, Any]]]
    """The Appointments of each contract (by contract id)."""
    now_us: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The patient's Communications (their messages about the contracts and the replies)."""
    answers: list[dict[str, Any]] = field(default_factory=list)
    """The patient's QuestionnaireResponses to the seven questions."""


def visible_to_patient(plan: dict[str, Any]) -> bool:
    return not not_for_patient(plan) and plan.get("status") not in HIDDEN_STATUSES


def overview(patient: dict[str, Any], plans: list[dict[str, Any]], sources: Sources) -> Overview:
    contracts = [p for p in plans if is_contract(p) and visible_to_patient(p)]
    others = [p for p in plans if not is_contract(p) and visible_to_patient(p)]
    return Overview(
        patient_name=display_name(patient) or "",
        contracts=[_contract(c, patient, others, sources) for c in contracts],
        answers=_answers(sources.answers),
    )


def _contract(
    plan: dict[str, Any], patient: dict[str, Any], others: list[dict[str, Any]], sources: Sources
) -> ContractOverview:
    resolved = sources.resolved
    contract_id = str(plan.get("id"))
    revision = sources.revisions.get(contract_id, Revision(None, None))
    result = ContractOverview(
        title=str(plan.get("title") or "Mitt patientkontrakt"),
        agreed=plan.get("created") or (plan.get("period") or {}).get("start"),
        last_revised=revision.when,
        revised_by=revision.unit,
        revised_with_patient=revision.with_patient,
    )
    for message in _messages(contract_id, sources):
        (result.answered if message.answered else result.awaiting).append(message)
    for reference in plan.get("goal", []):
        goal = resolved.get(str(reference.get("reference")))
        if goal is not None and (goal.get("description") or {}).get("text"):
            entry = _goal(goal, patient, resolved)
            (result.care_goals if entry.expressed_by == "care" else result.what_matters).append(entry)
    lists = {
        "egen-insats": result.my_part,
        "egenvard": result.self_care,
        "nar-soka-vard": result.when_to_seek_care,
        "vardens-insats": result.care_does,
        "kontaktvag": result.whom_to_contact,
    }
    reached_through: str | None = None
    for activity in plan.get("activity", []):
        detail = activity.get("detail") or {}
        kind = code_of([detail.get("code") or {}], ACTIVITY_KIND_SYSTEM)
        text = str(detail.get("description") or "")
        if kind in lists and text:
            lists[kind].append(text)
        if kind == "kontaktvag":
            result.channels += channels_of(detail)
            reached_through = reached_through or str(((detail.get("performer") or [{}])[0]).get("reference"))
    result.next_visit, result.next_steps = next_visit(
        plan, sources.appointments.get(contract_id, []), resolved, sources.now_us
    )
    _contacts(result, sources, reached_through)
    result.relatives = _relatives(sources.teams, resolved, sources.now_us)
    linked = {str(r.get("reference")) for r in [*plan.get("supportingInfo", []), *plan.get("basedOn", [])]}
    for other in sorted(others, key=lambda p: f"CarePlan/{p.get('id')}" not in linked):
        kind = code_of(other.get("category", []), PLAN_TYPE_SYSTEM) or "other"
        result.other_plans.append(
            OtherPlan(
                str(other.get("title") or ""),
                kind if kind in PLAN_TYPES else "other",
                PLAN_TYPES.get(kind, "Annan plan"),
                _holder(other.get("author") or {}, resolved) or _team_holder(other, sources.teams, resolved),
                f"CarePlan/{other.get('id')}" in linked,
            )
        )
    return result


def _messages(contract_id: str, sources: Sources) -> list[Message]:
    """The patient's messages about this contract, oldest first, each with the care team's reply
    (a Communication ``inResponseTo`` it that neither the patient nor a relative sent)."""
    replies: dict[str, str] = {}
    for answer in sources.messages:
        sender = str((answer.get("sender") or {}).get("reference") or "")
        if sender.startswith(("Patient/", "RelatedPerson/")) or not sender:
            continue
        for answered in answer.get("inResponseTo") or []:
            text = " ".join(str(p.get("contentString")) for p in answer.get("payload") or [] if p.get("contentString"))
            replies.setdefault(unversioned(str(answered.get("reference"))), text)
    found = []
    for message in sorted(sources.messages, key=lambda m: str(_sent(m))):
        kind = patient_message_kind(message)
        about = {unversioned(str(a.get("reference"))) for a in message.get("about") or []}
        if kind is None or f"CarePlan/{contract_id}" not in about or message.get("status") in WITHDRAWN_MESSAGES:
            continue
        sender = str((message.get("sender") or {}).get("reference") or "")
        reply = replies.get(f"Communication/{message.get('id')}")
        found.append(
            Message(
                kind,
                " ".join(str(p.get("contentString")) for p in message.get("payload") or [] if p.get("contentString")),
                _sent(message),
                display_name(sources.resolved.get(sender)) if sender.startswith("RelatedPerson/") else None,
                message.get("status") == "completed" or reply is not None,
                reply or None,
            )
        )
    return found


def _answers(responses: list[dict[str, Any]]) -> Answers | None:
    """The latest completed answers to the seven questions, if any."""
    completed = [
        r
        for r in responses
        if r.get("status") == "completed" and str(r.get("questionnaire") or "").split("|")[0] == SEVEN_QUESTIONS
    ]
    if not completed:
        return None
    latest = max(completed, key=lambda r: str(r.get("authored") or ""))
    answers = [
        (str(item.get("linkId")), bool(answer.get("valueBoolean")))
        for item in latest.get("item") or []
        for answer in (item.get("answer") or [])[:1]
        if isinstance(answer.get("valueBoolean"), bool)
    ]
    return Answers(latest.get("authored"), answers)


def _sent(message: dict[str, Any]) -> str | None:
    sent = message.get("sent") or (message.get("meta") or {}).get("lastUpdated")
    return str(sent) if sent else None


def _goal(goal: dict[str, Any], patient: dict[str, Any], resolved: Resources) -> Goal:
    """Where a goal goes: the patient's or a relative's words, or the care team's.  Who expressed it
    decides (``expressedBy``); a goal without it goes by its kind (``vad-ar-viktigt``: the patient's)."""
    kind = code_of(goal.get("category", []), GOAL_KIND_SYSTEM) or "mal"
    text = str(goal["description"]["text"])
    by = goal.get("expressedBy")
    reference = str((by or {}).get("reference") or "")
    if not by:
        return Goal(kind, text, "patient" if kind == "vad-ar-viktigt" else "care")
    if reference and reference.split("/_history")[0] == f"Patient/{patient.get('id')}":
        return Goal(kind, text, "patient")
    if reference.startswith("RelatedPerson/"):
        relative = resolved.get(reference.split("/_history")[0])
        return Goal(kind, text, "relative", display_name(relative) or by.get("display"))
    return Goal(kind, text, "care")  # a Practitioner, a PractitionerRole, an HSA-id


def _contacts(result: ContractOverview, sources: Sources, reached_through: str | None) -> None:
    lists = {"fixedCareContact": result.fixed_care_contact, "fixedDoctor": result.fixed_doctor}
    for contact in sources.contacts:
        unit = contact.unit or {}
        organization = sources.resolved.get(str(unit.get("reference")))
        entry = Contact(
            contact.kind,
            contact.role.get("code", ""),
            contact.role.get("display", ""),
            contact.name,
            contact.member.get("reference"),
            unit.get("display"),
            hsa_id_of(organization),
            list(contact.phones),
            list(contact.hours),
            code_of(
                (sources.resolved.get(str(contact.member.get("reference"))) or {}).get("code", []), CARE_ROLE_SYSTEM
            ),
        )
        lists.get(contact.kind, result.other_contacts).append(entry)
    everyone = [*result.fixed_care_contact, *result.fixed_doctor, *result.other_contacts]
    reached = next((c for c in everyone if c.member and c.member == reached_through), None)
    reached = reached or next(iter(result.fixed_care_contact), None)
    if reached is not None:
        reached.channels = list(dict.fromkeys(result.channels))


def _relatives(teams: list[dict[str, Any]], resolved: Resources, now_us: int) -> list[Relative]:
    """The relatives in the patient's care teams (role ``narstaende``), once each."""
    found: dict[str, Relative] = {}
    for team in teams:
        for participant in team.get("participant", []):
            roles = {c.get("code") for r in participant.get("role", []) for c in r.get("coding", [])}
            member = participant.get("member") or {}
            reference = str(member.get("reference") or "")
            if not reference.startswith("RelatedPerson/") or RELATIVE not in roles or reference in found:
                continue
            person = resolved.get(reference) or {}
            if person.get("active") is False or has_ended(participant.get("period") or {}, now_us):
                continue
            relationship = (person.get("relationship") or [{}])[0]
            codings = relationship.get("coding") or [{}]
            found[reference] = Relative(
                display_name(person) or str(member.get("display") or ""),
                codings[0].get("code"),
                relationship.get("text") or codings[0].get("display"),
                [str(t["value"]) for t in person.get("telecom", []) if t.get("system") == "phone" and t.get("value")],
            )
    return [relative for relative in found.values() if relative.name]


def _holder(reference: dict[str, Any], resolved: Resources) -> str | None:
    """Who holds a plan: a unit's name, a person's (a role's practitioner), or the display."""
    holder = display_name(person_of(resolved.get(str(reference.get("reference"))), resolved))
    display = reference.get("display")
    return holder or (str(display) if isinstance(display, str) else None)


def _team_holder(plan: dict[str, Any], teams: list[dict[str, Any]], resolved: Resources) -> str | None:
    """Who holds a plan without an author: its first care team (the patient's) by the unit that
    manages it, else by the team's name (a municipality's SIP team, issue 15.3)."""
    by_reference = {f"CareTeam/{team.get('id')}": team for team in teams}
    for reference in plan.get("careTeam") or []:
        team = by_reference.get(unversioned(str((reference or {}).get("reference"))))
        if team is None:
            continue
        for unit in team.get("managingOrganization") or []:
            holder = _holder(unit, resolved)
            if holder:
                return holder
        if isinstance(team.get("name"), str):
            return str(team["name"])
    return None


def code_of(concepts: list[dict[str, Any]], system: str) -> str | None:
    for concept in concepts:
        for coding in concept.get("coding", []):
            if coding.get("system") == system and coding.get("code"):
                return str(coding["code"])
    return None

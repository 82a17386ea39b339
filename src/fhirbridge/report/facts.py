"""What the follow-up report needs of one resource, as flat rows (issue 13).

The report aggregates in SQL over narrow projection tables (``report_*`` in
:mod:`fhirbridge.storage.schema`) rather than over stored JSON: these functions turn one
current resource into its rows, and :mod:`fhirbridge.report.projection` writes them in the
write transaction (the bulk seeder of ``bench/`` and the migration that fills the tables use
them too).  Pure: no database, no clock.

* a contract (CarePlan with plan-type ``patientkontrakt``): its patient, status, start, author,
  the agreed next time (``nasta-kontakt`` activity), whether it is a declined offer, and the
  units that take part (author and contributors);
* a CareTeam: every fixed care contact and fixed doctor assignment with its period
  (:func:`fhirbridge.contract.fixed_contacts.assignments`);
* a completed seven-questions QuestionnaireResponse: patient or staff, the unit it is about,
  when, and the answers to q1..q7;
* an active main Condition: its patient and ICD-10 chapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhirbridge.adapters.mappings import mapping
from fhirbridge.contract.codes import (
    ACTIVITY_KIND_SYSTEM,
    ANSWERED_FOR_UNIT_EXTENSION,
    CANONICAL_BASE,
    CONDITION_ROLE_SYSTEM,
    OFFER_DECLINED_EXTENSION,
    is_contract,
)
from fhirbridge.contract.fixed_contacts import assignments
from fhirbridge.fhir.references import parse_reference
from fhirbridge.search.dates import first_instant

NEXT_CONTACT = "nasta-kontakt"
QUESTIONNAIRES = {
    f"{CANONICAL_BASE}/Questionnaire/seven-questions-patient": "patient",
    f"{CANONICAL_BASE}/Questionnaire/seven-questions-staff": "staff",
}
ANSWERED_FOR_UNIT = ANSWERED_FOR_UNIT_EXTENSION
CLINICAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
QUESTIONS = tuple(f"q{n}" for n in range(1, 8))
PROJECTED = frozenset({"CarePlan", "CareTeam", "QuestionnaireResponse", "Condition"})


@dataclass(frozen=True)
class ContractFacts:
    patient_id: str | None
    status: str
    started: int | None
    author: str | None
    next_contact: int | None
    declined: bool
    units: tuple[str, ...]


@dataclass(frozen=True)
class FixedRoleFacts:
    patient_id: str
    role: str
    begins: int | None
    ends: int | None


@dataclass(frozen=True)
class AnswerFacts:
    respondent: str
    unit_id: str
    patient_id: str | None
    authored: int | None
    answers: tuple[int | None, ...]
    """1 yes, 0 no, None unanswered, for q1..q7."""


@dataclass(frozen=True)
class ConditionFacts:
    patient_id: str
    chapter: str


@dataclass
class Facts:
    """Every projection row of one resource (most resources have none)."""

    contract: ContractFacts | None = None
    fixed_roles: list[FixedRoleFacts] = field(default_factory=list)
    answers: AnswerFacts | None = None
    condition: ConditionFacts | None = None


def facts_of(resource_type: str, resource: dict[str, Any], local_base: str | None = None) -> Facts:
    """The rows ``resource`` (current, not deleted) contributes to the report."""
    if resource_type == "CarePlan" and is_contract(resource):
        return Facts(contract=_contract(resource, local_base))
    if resource_type == "CareTeam":
        return Facts(fixed_roles=_fixed_roles(resource, local_base))
    if resource_type == "QuestionnaireResponse":
        return Facts(answers=_answers(resource, local_base))
    if resource_type == "Condition":
        return Facts(condition=_condition(resource, local_base))
    return Facts()


def local_id(reference: Any, resource_type: str, local_base: str | None = None) -> str | None:
    """The id of a local reference to ``resource_type`` (``{"reference": "Patient/p1"}``), else None."""
    text = reference.get("reference") if isinstance(reference, dict) else None
    parsed = parse_reference(text, local_base) if isinstance(text, str) else None
    if parsed is None or parsed.kind != "local" or parsed.resource_type != resource_type:
        return None
    return parsed.resource_id


def local_reference(reference: Any, local_base: str | None = None) -> str | None:
    """``Type/id`` of a local reference, else None."""
    text = reference.get("reference") if isinstance(reference, dict) else None
    parsed = parse_reference(text, local_base) if isinstance(text, str) else None
    if parsed is None or parsed.kind != "local" or not parsed.resource_type or not parsed.resource_id:
        return None
    return f"{parsed.resource_type}/{parsed.resource_id}"


def _contract(plan: dict[str, Any], local_base: str | None) -> ContractFacts:
    period = plan.get("period") or {}
    author = local_reference(plan.get("author"), local_base)
    units = {author} | {local_reference(c, local_base) for c in plan.get("contributor", [])}
    return ContractFacts(
        patient_id=local_id(plan.get("subject"), "Patient", local_base),
        status=str(plan.get("status")),
        started=first_instant(plan.get("created")) or first_instant(period.get("start")),
        author=author,
        next_contact=_next_contact(plan),
        declined=_has_extension(plan, OFFER_DECLINED_EXTENSION),
        units=tuple(sorted(unit for unit in units if unit is not None)),
    )


def _next_contact(plan: dict[str, Any]) -> int | None:
    """The latest scheduled start of the plan's agreed next contacts (``nasta-kontakt``)."""
    found: list[int] = []
    for activity in plan.get("activity", []):
        detail = activity.get("detail") or {}
        kinds = {
            c.get("code")
            for c in (detail.get("code") or {}).get("coding", [])
            if c.get("system") == ACTIVITY_KIND_SYSTEM
        }
        if NEXT_CONTACT not in kinds or detail.get("status") in ("cancelled", "entered-in-error", "stopped"):
            continue
        scheduled = (detail.get("scheduledPeriod") or {}).get("start") or detail.get("scheduledString")
        when = first_instant(scheduled)
        if when is not None:
            found.append(when)
    return max(found) if found else None


def _has_extension(resource: dict[str, Any], url: str) -> bool:
    return any(isinstance(e, dict) and e.get("url") == url for e in resource.get("extension", []))


def _fixed_roles(team: dict[str, Any], local_base: str | None) -> list[FixedRoleFacts]:
    patient = local_id(team.get("subject"), "Patient", local_base)
    if patient is None:
        return []
    return [FixedRoleFacts(patient, a.role, a.begins, a.ends) for a in assignments(team, local_base)]


def _answers(response: dict[str, Any], local_base: str | None) -> AnswerFacts | None:
    questionnaire = str(response.get("questionnaire") or "").split("|")[0]
    respondent = QUESTIONNAIRES.get(questionnaire)
    if respondent is None or response.get("status") != "completed":
        return None
    unit = next(
        (
            local_id(e.get("valueReference"), "Organization", local_base)
            for e in response.get("extension", [])
            if isinstance(e, dict) and e.get("url") == ANSWERED_FOR_UNIT
        ),
        None,
    )
    if unit is None:
        return None
    given: dict[str, int] = {}
    for item in response.get("item", []):
        value = ((item.get("answer") or [{}])[0]).get("valueBoolean")
        if item.get("linkId") in QUESTIONS and isinstance(value, bool):
            given[item["linkId"]] = int(value)
    patient = local_id(response.get("subject"), "Patient", local_base) if respondent == "patient" else None
    return AnswerFacts(
        respondent, unit, patient, first_instant(response.get("authored")), tuple(given.get(q) for q in QUESTIONS)
    )


def _condition(condition: dict[str, Any], local_base: str | None) -> ConditionFacts | None:
    patient = local_id(condition.get("subject"), "Patient", local_base)
    main = any(
        c.get("system") == CONDITION_ROLE_SYSTEM and c.get("code") == "main"
        for concept in condition.get("category", [])
        for c in concept.get("coding", [])
    )
    active = any(
        c.get("system") == CLINICAL_STATUS_SYSTEM and c.get("code") == "active"
        for c in (condition.get("clinicalStatus") or {}).get("coding", [])
    )
    if patient is None or not main or not active:
        return None
    tables = report_tables()
    for coding in (condition.get("code") or {}).get("coding", []):
        if coding.get("system") == tables["icd10_system"] and isinstance(coding.get("code"), str):
            chapter = icd10_chapter(coding["code"])
            if chapter is not None:
                return ConditionFacts(patient, chapter)
    return None


@cache
def report_tables() -> dict[str, Any]:
    """``mappings/report.json``: ICD-10 chapters, bands, the municipal organisation numbers."""
    return mapping("report")


def icd10_chapter(code: str) -> str | None:
    """The ICD-10 chapter (``IX``) of a code (``I50.9``, ``I509``); None when it is in none."""
    head = code.strip().upper().replace(".", "")[:3]
    if len(head) < 3:
        return None
    for row in report_tables()["icd10_chapters"]:
        if row["first"] <= head <= row["last"]:
            return str(row["chapter"])
    return None

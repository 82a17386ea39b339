"""Demo data for the follow-up (issue 13, seeds 001 and 003): each demo patient's main condition
(ICD-10-SE), the seven questions answered by patients about their fixed care contact's unit,
and by the staff of every unit that holds contracts, over the past year; and a few patients who
were offered a contract and declined it.

Drawn from the same seeded random source as the contracts, so loading twice gives the same
answers under the same ids (``demo-…``): a reload updates instead of duplicating.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fhirbridge.contract.codes import (
    ANSWERED_FOR_UNIT_EXTENSION,
    CANONICAL_BASE,
    CONDITION_ROLE_SYSTEM,
    FIXED_CONTACT_REASSESSMENT_EXTENSION,
    OFFER_DECLINED_EXTENSION,
    PLAN_TYPE_SYSTEM,
)
from fhirbridge.demo.catalogue import CLINICIANS, SCENARIOS, UNITS, Clinician

Resource = dict[str, Any]
STOCKHOLM = ZoneInfo("Europe/Stockholm")
ICD_10_SE = "urn:oid:1.2.752.116.1.1.1.1.3"
"""ICD-10-SE, the Swedish edition of ICD-10 (Socialstyrelsen), by its OID."""
SEVEN_QUESTIONS = {
    "patient": f"{CANONICAL_BASE}/Questionnaire/seven-questions-patient",
    "staff": f"{CANONICAL_BASE}/Questionnaire/seven-questions-staff",
}
MAIN_CONDITIONS = {
    "hjartsvikt": ("I50.9", "Hjärtsvikt, ospecificerad"),
    "diabetes": ("E11.9", "Typ 2-diabetes utan komplikationer"),
    "kol": ("J44.9", "Kroniskt obstruktiv lungsjukdom, ospecificerad"),
    "stroke": ("I69.4", "Sena effekter av slaganfall"),
}
"""The main condition of each demo scenario (:data:`fhirbridge.demo.catalogue.SCENARIOS`)."""
STAFF_ANSWERS_PER_UNIT = 6
"""Staff answers per unit in each of the last three tertials that have ended: more than the
report's smallest atom (5), so they are counted (fhirbridge.report.atoms)."""
TERTIALS_ANSWERED = 3
PATIENT_YES = 0.8
STAFF_YES = 0.7
_UNIT_NAMES = {unit.key: unit.name for unit in UNITS}
_CLINICIANS = {clinician.key: clinician for clinician in CLINICIANS}


def main_condition(index: int, patient_id: str, today: date) -> Resource:
    """The patient's main condition, which gives the report its patient groups."""
    scenario = SCENARIOS[index % len(SCENARIOS)]
    code, display = MAIN_CONDITIONS[scenario.key]
    fixed = _CLINICIANS[scenario.fixed_doctor]
    return {
        "resourceType": "Condition",
        "id": f"demo-condition-{index:05d}",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
        "category": [
            {"coding": [{"system": CONDITION_ROLE_SYSTEM, "code": "main", "display": "Huvudsakligt tillstånd"}]}
        ],
        "code": {"coding": [{"system": ICD_10_SE, "code": code, "display": display}], "text": scenario.condition},
        "subject": {"reference": f"Patient/{patient_id}"},
        "recordedDate": (today - timedelta(days=400)).isoformat(),
        "recorder": {"reference": f"PractitionerRole/role-{fixed.key}"},
    }


def patient_answers(index: int, patient_id: str, today: date, rng: random.Random) -> Resource:
    """The patient's answers to the seven questions about their fixed care contact's unit."""
    scenario = SCENARIOS[index % len(SCENARIOS)]
    unit = _CLINICIANS[scenario.fixed_contact].unit
    return _answers(
        f"demo-seven-patient-{index:05d}",
        "patient",
        unit,
        subject=f"Patient/{patient_id}",
        author=f"Patient/{patient_id}",
        authored=_some_day(today, rng),
        answers=[rng.random() < PATIENT_YES for _ in range(7)],
    )


def staff_answers(units: list[str], today: date, rng: random.Random) -> Iterator[Resource]:
    """The staff's answers about their own unit, :data:`STAFF_ANSWERS_PER_UNIT` per unit in each
    of the last :data:`TERTIALS_ANSWERED` tertials that have ended, each by one of the unit's
    clinicians."""
    for unit in units:
        staff = [person for person in CLINICIANS if person.unit == unit]
        for round_, (first, last) in enumerate(_ended_tertials(today, TERTIALS_ANSWERED)):
            for n in range(STAFF_ANSWERS_PER_UNIT):
                person: Clinician = staff[n % len(staff)]
                number = round_ * STAFF_ANSWERS_PER_UNIT + n + 1
                yield _answers(
                    f"demo-seven-staff-{unit}-{number}",
                    "staff",
                    unit,
                    subject=f"Organization/org-{unit}",
                    author=f"PractitionerRole/role-{person.key}",
                    authored=_day_between(first, last, rng),
                    answers=[rng.random() < STAFF_YES for _ in range(7)],
                )


def _ended_tertials(today: date, count: int) -> list[tuple[date, date]]:
    """(first day, last day) of the ``count`` tertials (January-April, May-August,
    September-December) that ended last before ``today``, latest first."""
    first = date(today.year, (today.month - 1) // 4 * 4 + 1, 1)  # the running tertial
    ended = []
    for _ in range(count):
        before = date(first.year - (first.month == 1), (first.month - 5) % 12 + 1, 1)
        ended.append((before, first - timedelta(days=1)))
        first = before
    return ended


def _day_between(first: date, last: date, rng: random.Random) -> str:
    """A weekday morning from ``first`` to ``last``, as a dateTime in Swedish time."""
    day = first + timedelta(days=rng.randint(0, (last - first).days))
    while day.weekday() >= 5:
        day += timedelta(days=1) if day + timedelta(days=2) <= last else -timedelta(days=1)
    return datetime.combine(day, time(rng.choice((9, 10, 11, 14))), STOCKHOLM).isoformat()


def answered_units(patients: int) -> list[str]:
    """The units whose patients answer (their fixed care contacts' units), in a stable order."""
    return sorted({_CLINICIANS[SCENARIOS[i % len(SCENARIOS)].fixed_contact].unit for i in range(1, patients + 1)})


def _answers(
    resource_id: str, kind: str, unit: str, *, subject: str, author: str, authored: str, answers: list[bool]
) -> Resource:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id,
        "extension": [
            {
                "url": ANSWERED_FOR_UNIT_EXTENSION,
                "valueReference": {"reference": f"Organization/org-{unit}", "display": _UNIT_NAMES[unit]},
            }
        ],
        "questionnaire": SEVEN_QUESTIONS[kind],
        "status": "completed",
        "subject": {"reference": subject},
        "authored": authored,
        "author": {"reference": author},
        "item": [{"linkId": f"q{n}", "answer": [{"valueBoolean": yes}]} for n, yes in enumerate(answers, 1)],
    }


def _some_day(today: date, rng: random.Random) -> str:
    """A weekday morning within the past year, as a dateTime in Swedish time."""
    day = today - timedelta(days=rng.randint(1, 360))
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return datetime.combine(day, time(rng.choice((9, 10, 11, 14))), STOCKHOLM).isoformat()


DECLINED_REASONS = (
    "Vill inte ha något avtal nu; hör av sig själv vid behov.",
    "Tycker att kontakten med vårdcentralen fungerar bra som den är.",
    "Vill tänka på saken och ta upp det vid nästa besök.",
)


def declined_offer(number: int, patient: Resource, today: date, rng: random.Random) -> Resource:
    """A contract offered to ``patient`` at a fixed care contact's unit and declined (seed 001),
    with when the need for a fixed care contact is next re-assessed."""
    scenario = SCENARIOS[number % len(SCENARIOS)]
    offered_by = _CLINICIANS[scenario.fixed_contact]
    day = today - timedelta(days=rng.randint(10, 300))
    return {
        "resourceType": "CarePlan",
        "id": f"demo-declined-offer-{number:05d}",
        "extension": [
            {"url": OFFER_DECLINED_EXTENSION, "valueDateTime": _morning(day)},
            {"url": FIXED_CONTACT_REASSESSMENT_EXTENSION, "valueDate": (day + timedelta(days=180)).isoformat()},
        ],
        "status": "revoked",
        "intent": "proposal",
        "category": [{"coding": [{"system": PLAN_TYPE_SYSTEM, "code": "patientkontrakt"}]}],
        "title": "Erbjudande om patientkontrakt (avböjt)",
        "description": DECLINED_REASONS[number % len(DECLINED_REASONS)],
        "subject": {"reference": f"Patient/{patient['id']}"},
        "author": {"reference": f"PractitionerRole/role-{offered_by.key}"},
        "created": day.isoformat(),
    }


def _morning(day: date) -> str:
    return datetime.combine(day, time(10), STOCKHOLM).isoformat()

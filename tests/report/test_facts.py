"""What one resource puts into the report's projection (pure)."""

from __future__ import annotations

from fhirbridge.contract.codes import CONDITION_ROLE_SYSTEM, OFFER_DECLINED_EXTENSION, PLAN_TYPE_SYSTEM
from fhirbridge.report.facts import ANSWERED_FOR_UNIT, CLINICAL_STATUS_SYSTEM, facts_of, icd10_chapter
from fhirbridge.search.dates import first_instant


def test_icd10_chapters_from_the_mapping() -> None:
    assert icd10_chapter("I50.9") == "IX"
    assert icd10_chapter("E119") == "IV"
    assert icd10_chapter("J44") == "X"
    assert icd10_chapter("S72.0") == "XIX"
    assert icd10_chapter("U07.1") == "XXII"
    assert icd10_chapter("X") is None


def test_a_declined_offer_and_its_units() -> None:
    plan = {
        "resourceType": "CarePlan",
        "status": "revoked",
        "category": [{"coding": [{"system": PLAN_TYPE_SYSTEM, "code": "patientkontrakt"}]}],
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2026-03-01"},
        "author": {"reference": "PractitionerRole/r1/_history/2"},
        "contributor": [{"reference": "Organization/o1"}, {"display": "no reference"}],
        "extension": [{"url": OFFER_DECLINED_EXTENSION, "valueDateTime": "2026-03-01"}],
    }
    contract = facts_of("CarePlan", plan).contract
    assert contract is not None
    assert contract.declined and contract.status == "revoked" and contract.patient_id == "p1"
    assert contract.started == first_instant("2026-03-01")
    assert contract.units == ("Organization/o1", "PractitionerRole/r1")
    sip = {**plan, "category": [{"coding": [{"system": PLAN_TYPE_SYSTEM, "code": "sip"}]}]}
    assert facts_of("CarePlan", sip).contract is None


def test_only_completed_seven_question_responses_with_a_unit_count() -> None:
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "https://fhirbridge.se/fhir/Questionnaire/seven-questions-staff|1.0",
        "status": "completed",
        "extension": [{"url": ANSWERED_FOR_UNIT, "valueReference": {"reference": "Organization/u1"}}],
        "authored": "2026-02-01",
        "item": [
            {"linkId": "q1", "answer": [{"valueBoolean": True}]},
            {"linkId": "q2", "answer": [{"valueBoolean": False}]},
            {"linkId": "q9", "answer": [{"valueBoolean": True}]},
        ],
    }
    answers = facts_of("QuestionnaireResponse", response).answers
    assert answers is not None
    assert (answers.respondent, answers.unit_id) == ("staff", "u1")
    assert answers.answers == (1, 0, None, None, None, None, None)
    assert facts_of("QuestionnaireResponse", {**response, "status": "in-progress"}).answers is None
    assert facts_of("QuestionnaireResponse", {**response, "extension": []}).answers is None


def test_an_active_main_condition_gives_its_chapter() -> None:
    condition = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": CLINICAL_STATUS_SYSTEM, "code": "active"}]},
        "category": [{"coding": [{"system": CONDITION_ROLE_SYSTEM, "code": "main"}]}],
        "code": {"coding": [{"system": "urn:oid:1.2.752.116.1.1.1.1.3", "code": "F32.1"}]},
        "subject": {"reference": "Patient/p2"},
    }
    found = facts_of("Condition", condition).condition
    assert found is not None and (found.patient_id, found.chapter) == ("p2", "V")
    resolved = {**condition, "clinicalStatus": {"coding": [{"system": CLINICAL_STATUS_SYSTEM, "code": "resolved"}]}}
    assert facts_of("Condition", resolved).condition is None

"""The seven questions and the main condition in the report, hand-counted on the region of
conftest.py (SQLite and PostgreSQL).  Needs QuestionnaireResponse and Condition as stored types.

Unit A: six patient responses and five staff responses, all yes to all seven; unit B: two
patient responses, one with no to q3.  Main conditions: p1-p6 heart failure (I50.9, chapter
IX), p7 type 2 diabetes (E11.9, chapter IV)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.contract.codes import CONDITION_ROLE_SYSTEM
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.report.facts import ANSWERED_FOR_UNIT, CLINICAL_STATUS_SYSTEM, QUESTIONNAIRES
from tests.report.conftest import service
from tests.report.test_report import assert_near, cells, report, shares, shown_only
from tests.security.tokens import SigningKey

pytestmark = pytest.mark.skipif(
    not {"QuestionnaireResponse", "Condition"} <= set(STORED_TYPES),
    reason="QuestionnaireResponse and Condition are not stored types yet",
)
QUESTIONNAIRE = {kind: url for url, kind in QUESTIONNAIRES.items()}
ICD10 = "urn:oid:1.2.752.116.1.1.1.1.3"


def response(rid: str, kind: str, unit: str, who: str, no: str | None = None) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "extension": [{"url": ANSWERED_FOR_UNIT, "valueReference": {"reference": f"Organization/{unit}"}}],
        "questionnaire": QUESTIONNAIRE[kind],
        "status": "completed",
        "subject": {"reference": who if kind == "patient" else f"Organization/{unit}"},
        "author": {"reference": who},
        "authored": "2026-02-01T10:00:00+01:00",
        "item": [{"linkId": f"q{n}", "answer": [{"valueBoolean": f"q{n}" != no}]} for n in range(1, 8)],
    }


def condition(patient: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"main-{patient}",
        "clinicalStatus": {"coding": [{"system": CLINICAL_STATUS_SYSTEM, "code": "active"}]},
        "category": [{"coding": [{"system": CONDITION_ROLE_SYSTEM, "code": "main"}]}],
        "code": {"coding": [{"system": ICD10, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
    }


async def _write(http: httpx.AsyncClient, key: SigningKey) -> None:
    resources = [response(f"a-pat-{n}", "patient", "org-a", f"Patient/p{n}") for n in range(1, 7)]
    resources += [response(f"a-staff-{n}", "staff", "org-a", "PractitionerRole/role-a") for n in range(1, 6)]
    resources += [response("b-pat-8", "patient", "org-b", "Patient/p8")]
    resources += [response("b-pat-9", "patient", "org-b", "Patient/p9", no="q3")]
    resources += [condition(f"p{n}", "I50.9") for n in range(1, 7)] + [condition("p7", "E11.9")]
    for resource in resources:
        url = f"/fhir/{resource['resourceType']}/{resource['id']}"
        answer = await http.put(url, json=resource, headers=service(key))
        assert answer.status_code in (200, 201), answer.text


async def test_the_seven_questions_and_conditions_match_the_hand_count(
    region: httpx.AsyncClient, exact: httpx.AsyncClient, key: SigningKey
) -> None:
    await _write(region, key)
    body = await report(exact, service(key))
    overall = shares(body, "questions_yes")
    assert overall["patient|q1"] == (8, 8)
    assert overall["patient|q3"] == (7, 8)
    assert overall["staff|q7"] == (5, 5)
    assert shares(body, "questions_all_yes_by_unit") == {
        "org-a|patient": (6, 6),
        "org-a|staff": (5, 5),
        "org-b|patient": (1, 2),
    }
    assert shares(body, "questions_yes_by_unit")["org-b|patient|q3"] == (1, 2)
    assert body["implementedUnits"] == ["org-a"]
    assert cells(body, "patients_by_condition_chapter") == {"IX": 6, "IV": 1, "okänt": 7, "total": 14}

    suppressed = await report(region, service(key))
    # Unit B's two patient responses are left out (a unit's tertial of 2), so unit A's six stand.
    assert_near(shares(suppressed, "questions_all_yes_by_unit"), {"org-a|patient": (6, 6), "org-a|staff": (5, 5)})
    assert suppressed["implementedUnits"] == ["org-a"]
    assert "org-b" in suppressed["leftOutUnits"]
    # Unit A's patients said yes to everything (unit B's one no is left out with B's two answers).
    overall = shares(suppressed, "questions_yes")
    assert_near({q: overall[q] for q in ("patient|q1", "patient|q3")}, {"patient|q1": (6, 6), "patient|q3": (6, 6)})
    chapters = cells(suppressed, "patients_by_condition_chapter")  # IV's 1 and the zeros hide IX's 6
    assert_near(chapters, shown_only(chapters, {"okänt": 6, "total": 13}))
    assert chapters["IX"] is None and chapters["V"] is None
    own = await report(exact, service(key), unit="org-b")
    assert shares(own, "questions_all_yes_by_unit") == {"org-b|patient": (1, 2)}

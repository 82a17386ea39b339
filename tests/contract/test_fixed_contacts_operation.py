"""``GET /fhir/Patient/{id}/$fixed-contacts``: whom the patient turns to (issue 4; seeds 001, 003)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES
from tests.support import builders
from tests.support.api import create, outcome


def _role(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": CARE_ROLE_SYSTEM, "code": code, "display": CARE_ROLES[code]}]}]


async def _staff(client: httpx.AsyncClient, hsa: str, given: str, family: str, phone: str, unit: dict) -> dict:
    person = await create(client, builders.practitioner(hsa, family, given))
    role = builders.practitioner_role(person["id"], unit["id"])
    role["telecom"] = [{"system": "phone", "value": phone}, {"system": "email", "value": "x@region.se"}]
    role["availableTime"] = [
        {
            "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
            "availableStartTime": "08:00:00",
            "availableEndTime": "16:00:00",
        }
    ]
    return await create(client, role)


@pytest.fixture
async def contacts(client: httpx.AsyncClient) -> dict[str, Any]:
    clinic = await create(client, builders.organization("SE2321000198-E0000000001", "Hälsocentralen Sandviken"))
    municipality = await create(client, builders.organization("SE2120001876-E0000000002", "Sandvikens kommun"))
    patient = await create(client, builders.patient())
    nurse = await _staff(client, "SE2321000198-SSK01", "Anna", "Berg", "026-24 50 01", clinic)
    doctor = await _staff(client, "SE2321000198-LAK01", "Erik", "Holm", "026-24 50 02", clinic)
    district = await _staff(client, "SE2120001876-DSK01", "Sara", "Lund", "026-24 00 00", municipality)
    former = await _staff(client, "SE2321000198-SSK02", "Olle", "Falk", "026-24 50 09", clinic)
    relative = await create(client, builders.related_person(patient["id"]))
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{patient['id']}"},
        "telecom": [{"system": "phone", "value": "026-24 50 00"}],
        "participant": [
            {
                "role": _role("fast-vardkontakt"),
                "member": {"reference": f"PractitionerRole/{nurse['id']}", "display": "Anna Berg"},
                "period": {"start": "2026-02-01"},
            },
            {"role": _role("fast-lakarkontakt"), "member": {"reference": f"PractitionerRole/{doctor['id']}"}},
            {  # a Practitioner acting for a unit (R4 ctm-1: onBehalfOf only with a Practitioner member)
                "role": _role("distriktsskoterska"),
                "member": district["practitioner"],
                "onBehalfOf": {"reference": f"Organization/{municipality['id']}"},
            },
            {
                "role": _role("diabetessjukskoterska"),
                "member": {"reference": f"PractitionerRole/{former['id']}"},
                "period": {"start": "2024-01-01", "end": "2025-12-31"},
            },
            {"role": _role("narstaende"), "member": {"reference": f"RelatedPerson/{relative['id']}"}},
        ],
    }
    await create(client, team)
    return {"patient": patient, "clinic": clinic, "municipality": municipality}


def _parts(parameter: dict[str, Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for part in parameter["part"]:
        value = next(v for k, v in part.items() if k.startswith("value"))
        found.setdefault(part["name"], []).append(value)
    return found


async def test_lists_the_fixed_care_contact_fixed_doctor_and_treating_roles(
    client: httpx.AsyncClient, contacts: dict[str, Any]
) -> None:
    response = await client.get(f"/fhir/Patient/{contacts['patient']['id']}/$fixed-contacts")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    assert [p["name"] for p in body["parameter"]] == ["fixedCareContact", "fixedDoctor", "treatingRole"]
    nurse, doctor, district = (_parts(p) for p in body["parameter"])
    assert nurse["name"] == ["Anna Berg"]
    assert nurse["role"][0]["code"] == "fast-vardkontakt"
    assert nurse["unit"][0]["display"] == "Hälsocentralen Sandviken"
    assert nurse["phone"] == ["026-24 50 01"]  # the email is not a phone number
    assert nurse["availableTime"] == ["mon tue wed thu fri 08:00-16:00"]
    assert nurse["since"] == ["2026-02-01"]
    assert doctor["name"] == ["Erik Holm"] and doctor["role"][0]["display"] == "Fast läkarkontakt"
    assert district["unit"][0]["display"] == "Sandvikens kommun"  # onBehalfOf names the unit
    assert district["role"][0]["code"] == "distriktsskoterska"


async def test_a_patient_without_care_teams_has_no_contacts(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    body = (await client.get(f"/fhir/Patient/{patient['id']}/$fixed-contacts")).json()
    assert body == {"resourceType": "Parameters"}


async def test_unknown_and_deleted_patients(client: httpx.AsyncClient) -> None:
    outcome(await client.get("/fhir/Patient/finns-inte/$fixed-contacts"), 404)
    patient = await create(client, builders.patient())
    assert (await client.delete(f"/fhir/Patient/{patient['id']}")).status_code in (200, 204)
    outcome(await client.get(f"/fhir/Patient/{patient['id']}/$fixed-contacts"), 410)


async def test_the_capability_statement_lists_the_operation(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    names = [op["name"] for op in patient["operation"]]
    assert names == [
        "export",
        "meta",
        "fixed-contacts",
        "emergency-access",
        "merge",
        "validate",
        "meta-add",
        "meta-delete",
        "everything",
    ]
    fixed_contacts = next(op for op in patient["operation"] if op["name"] == "fixed-contacts")
    assert fixed_contacts["definition"].endswith("/OperationDefinition/Patient-fixed-contacts")
    operations = {r["type"]: [op["name"] for op in r.get("operation", [])] for r in statement["rest"][0]["resource"]}
    assert (
        operations["CarePlan"]
        == operations["CareTeam"]
        == operations["Goal"]
        == [
            "meta",  # the type level's route comes before /{type}/{id} would take it
            "validate",
            "meta-add",
            "meta-delete",
            "revisions",
        ]
    )
    assert operations["Organization"] == ["meta", "validate", "meta-add", "meta-delete"]
    assert operations["AuditEvent"] == ["meta", "validate"]  # written by the server alone
    assert "operation" not in {i["code"] for i in patient["interaction"]}


async def test_the_operation_can_be_invoked_with_post(client: httpx.AsyncClient, contacts: dict[str, Any]) -> None:
    response = await client.post(f"/fhir/Patient/{contacts['patient']['id']}/$fixed-contacts")
    assert response.status_code == 200
    assert response.json()["parameter"][0]["name"] == "fixedCareContact"


async def test_an_assignment_that_has_not_started_is_not_listed(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    doctor = await create(client, builders.practitioner())
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{patient['id']}"},
        "participant": [
            {
                "role": _role("fast-lakarkontakt"),
                "member": {"reference": f"Practitioner/{doctor['id']}"},
                "period": {"start": "2099-01-01"},
            }
        ],
    }
    await create(client, team)
    body = (await client.get(f"/fhir/Patient/{patient['id']}/$fixed-contacts")).json()
    assert body == {"resourceType": "Parameters"}

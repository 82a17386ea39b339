"""``$validate`` (R4 resource-operation-validate.html): a dry run of the write itself.

Whatever a create or update would refuse, ``$validate`` names with the same diagnostics and
elements (the contract profile, the patient's goal, one fixed care contact, one Patient per
person, referential integrity, the reference rule), and it leaves nothing behind: no version,
no Provenance, no signal, no outbox row.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES
from tests.support import builders
from tests.support.api import create, history
from tests.support.contracts import contract_world


def _severities(outcome: dict) -> list[str]:
    return [issue["severity"] for issue in outcome["issue"]]


async def test_a_valid_contract_validates_and_nothing_is_stored(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    response = await client.post("/fhir/CarePlan/$validate", json=world["contract"])
    assert response.status_code == 200
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and _severities(body) == ["information"]
    assert await history(client, "CarePlan/_history") == []


async def test_an_incomplete_contract_gets_its_errors_with_status_200(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    body = copy.deepcopy(world["contract"])
    body["activity"] = body["activity"][:1]
    body["goal"] = [{"reference": "Goal/finns-inte"}]
    outcome = (await client.post("/fhir/CarePlan/$validate", json=body)).json()
    text = " ".join(issue["diagnostics"] for issue in outcome["issue"])
    assert "contract-care-part" in text and "contract-patient-goal" in text


async def test_a_reference_to_nothing_is_named(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    plan = builders.care_plan(patient["id"])
    plan["goal"] = [{"reference": "Goal/finns-inte"}]
    outcome = (await client.post("/fhir/CarePlan/$validate", json=plan)).json()
    refused = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert any("Goal/finns-inte does not exist" in i["diagnostics"] for i in refused), outcome


async def test_parameters_with_a_profile_and_warnings(client: httpx.AsyncClient) -> None:
    patient = builders.patient()
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": patient},
            {"name": "profile", "valueUri": "https://fhirbridge.se/fhir/StructureDefinition/se-patient"},
        ],
    }
    outcome = (await client.post("/fhir/Patient/$validate", json=parameters)).json()
    assert _severities(outcome) == ["information"]
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": "Patient/x"},
        "participant": [{"role": [{"text": "Kurator"}], "member": {"display": "Lisa"}}],
    }
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": team},
            {"name": "profile", "valueCanonical": "https://fhirbridge.se/fhir/StructureDefinition/contract-careteam"},
        ],
    }
    outcome = (await client.post("/fhir/CareTeam/$validate", json=parameters)).json()
    assert "warning" in _severities(outcome)  # the role has no code from the care-role value set: extensible


async def test_the_stored_resource_and_a_deletion_can_be_validated(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    plan = await create(client, builders.care_plan(patient["id"]))
    assert _severities((await client.get(f"/fhir/CarePlan/{plan['id']}/$validate")).json()) == ["information"]
    deletion = (await client.post(f"/fhir/Patient/{patient['id']}/$validate", params={"mode": "delete"})).json()
    assert (
        deletion["issue"][0]["severity"] == "error" and f"CarePlan/{plan['id']}" in deletion["issue"][0]["diagnostics"]
    )


async def test_a_malformed_request_is_a_4xx(client: httpx.AsyncClient) -> None:
    assert (await client.post("/fhir/CarePlan/$validate", json={"resourceType": "Parameters"})).status_code == 400
    assert (await client.post("/fhir/CarePlan/$validate", json={}, params={"mode": "patch"})).status_code == 400
    assert (await client.get("/fhir/CarePlan/finns-inte/$validate")).status_code == 404


def _member(practitioner: dict[str, Any], role: str) -> dict[str, Any]:
    return {
        "role": [{"coding": [{"system": CARE_ROLE_SYSTEM, "code": role, "display": CARE_ROLES[role]}]}],
        "member": {"reference": f"Practitioner/{practitioner['id']}"},
    }


def _team(patient: dict[str, Any], *participants: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{patient['id']}"},
        "participant": list(participants),
    }


def _refusals(outcome: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted(
        (issue["diagnostics"], tuple(issue.get("expression", ())))
        for issue in outcome["issue"]
        if issue["severity"] in ("error", "fatal")
    )


async def _same_answer(client: httpx.AsyncClient, resource_type: str, body: dict[str, Any], status: int) -> None:
    """$validate names exactly what the create refuses, and the create refuses with ``status``."""
    validated = (await client.post(f"/fhir/{resource_type}/$validate", json=body)).json()
    written = await client.post(f"/fhir/{resource_type}", json=body)
    assert written.status_code == status, written.text
    assert _refusals(validated) and _refusals(validated) == _refusals(written.json())


async def test_a_second_fixed_care_contact_fails_validate_as_it_fails_the_create(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    anna = await create(client, builders.practitioner("SE2321000198-ANNA1", "Berg", "Anna"))
    bo = await create(client, builders.practitioner("SE2321000198-BO001", "Ek", "Bo"))
    await create(client, _team(patient, _member(anna, "fast-vardkontakt")))
    await _same_answer(client, "CareTeam", _team(patient, _member(bo, "fast-vardkontakt")), 409)
    assert len(await history(client, "CareTeam/_history")) == 1


async def test_a_second_patient_for_one_person_fails_validate_as_it_fails_the_create(
    client: httpx.AsyncClient,
) -> None:
    first = await create(client, builders.patient())
    copy_of_person = {k: v for k, v in first.items() if k not in ("id", "meta")}
    await _same_answer(client, "Patient", copy_of_person, 409)


async def test_a_contract_without_the_patients_goal_fails_validate_as_it_fails_the_create(
    client: httpx.AsyncClient,
) -> None:
    world = await contract_world(client)
    body = copy.deepcopy(world["contract"])
    clinician_goal = await create(
        client,
        {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "description": {"text": "HbA1c under 58"},
            "subject": body["subject"],
        },
    )
    body["goal"] = [{"reference": f"Goal/{clinician_goal['id']}"}]
    await _same_answer(client, "CarePlan", body, 422)


async def test_a_reference_to_nothing_fails_validate_as_it_fails_the_create(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    plan = builders.care_plan(patient["id"])
    plan["goal"] = [{"reference": "Goal/finns-inte"}]
    await _same_answer(client, "CarePlan", plan, 422)


async def test_a_valid_contract_leaves_nothing_behind(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    before = {t: len(await history(client, f"{t}/_history")) for t in ("CarePlan", "Provenance", "Communication")}
    assert _severities((await client.post("/fhir/CarePlan/$validate", json=world["contract"])).json()) == [
        "information"
    ]
    after = {t: len(await history(client, f"{t}/_history")) for t in ("CarePlan", "Provenance", "Communication")}
    assert after == before
    created = await client.post("/fhir/CarePlan", json=world["contract"])
    assert created.status_code == 201  # and the write it stood for succeeds

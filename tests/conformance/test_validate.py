"""``$validate`` (R4 resource-operation-validate.html): the write's checks without the write."""

from __future__ import annotations

import copy

import httpx

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
    assert "contract-care-part" in text and "contract-patient-goal" in text and "Goal/finns-inte does not exist" in text


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

"""Edge cases of profile validation, $validate and the conformance endpoints, each a way a
client once could get a wrong answer or a server error."""

from __future__ import annotations

import copy

import httpx
import pytest

from fhirbridge.conformance.validator import validate_profiles
from fhirbridge.demo.generator import demo_resources
from tests.support import builders
from tests.support.api import BASE, create, outcome
from tests.support.contracts import contract_world

CONTRACT = "https://fhirbridge.se/fhir/StructureDefinition/contract-careplan"


def test_a_profile_claimed_many_times_is_checked_once() -> None:
    plan = next(r for r in demo_resources(1) if r["id"].startswith("demo-contract-"))
    broken = copy.deepcopy(plan)
    broken["activity"] = broken["activity"][:1]
    once = validate_profiles(broken)
    broken["meta"]["profile"] = [CONTRACT, *(f"{CONTRACT}|{n}" for n in range(300))]
    assert len(validate_profiles(broken)) == len(once)


def test_primitive_extensions_do_not_change_an_invariants_verdict() -> None:
    plan = next(r for r in demo_resources(1) if r["id"].startswith("demo-contract-"))
    decorated = copy.deepcopy(plan)
    for activity in decorated["activity"]:
        activity["detail"]["code"]["coding"][0]["_system"] = {"id": "s"}
        activity["detail"]["code"]["coding"][0]["_code"] = {"id": "c"}
    assert validate_profiles(decorated) == []
    broken = copy.deepcopy(decorated)
    broken["activity"] = [a for a in broken["activity"] if a["detail"]["code"]["coding"][0]["code"] != "kontaktvag"]
    assert any("contract-whom-to-contact" in i.diagnostics for i in validate_profiles(broken))


async def test_a_contract_with_absolute_and_versioned_references_to_its_goal_and_patient(
    client: httpx.AsyncClient,
) -> None:
    world = await contract_world(client)
    body = copy.deepcopy(world["contract"])
    body["subject"] = {"reference": f"{BASE}/fhir/Patient/{world['patient']['id']}"}
    body["goal"] = [{"reference": f"Goal/{world['goal']['id']}/_history/1"}]
    await create(client, body)


async def test_a_transaction_contract_may_name_its_patient_conditionally(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    number = world["patient"]["identifier"][0]
    body = dict(world["contract"], subject={"reference": f"Patient?identifier={number['system']}|{number['value']}"})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": body, "request": {"method": "POST", "url": "CarePlan"}}],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text


async def test_an_extension_without_a_value_is_refused(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    body = copy.deepcopy(world["contract"])
    body["activity"][2]["detail"]["extension"] = [
        {"url": "https://fhirbridge.se/fhir/StructureDefinition/contact-channel"}
    ]
    rejected = outcome(await client.post("/fhir/CarePlan", json=body), 422)
    assert any("extension[0].value" in e for i in rejected["issue"] for e in i.get("expression", []))


@pytest.mark.parametrize(
    "parameters",
    [
        {"resourceType": "Parameters", "parameter": "x"},
        {"resourceType": "Parameters", "parameter": {"name": "resource"}},
        {"resourceType": "Parameters", "parameter": ["x"]},
        {"resourceType": "Parameters", "parameter": [None]},
        {"resourceType": "Parameters", "parameter": [{"name": "profile", "valueUri": 5}]},
    ],
)
async def test_malformed_validate_parameters_are_400(client: httpx.AsyncClient, parameters: dict) -> None:
    outcome(await client.post("/fhir/Patient/$validate", json=parameters), 400)


async def test_conformance_search_follows_the_search_rules(client: httpx.AsyncClient) -> None:
    by_prefix = (await client.get("/fhir/StructureDefinition", params={"name": "sepat"})).json()
    assert [e["resource"]["id"] for e in by_prefix["entry"]] == ["se-patient"]
    two = (await client.get("/fhir/StructureDefinition", params={"_id": "se-patient,contract-goal"})).json()
    assert two["total"] == 2
    counted = (await client.get("/fhir/ValueSet", params={"_summary": "count"})).json()
    assert counted["total"] >= 5 and "entry" not in counted
    strict = await client.get(
        "/fhir/StructureDefinition", params={"url:below": "https://x"}, headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "StructureDefinition/contract-careplan"}}],
    }
    answer = (await client.post("/fhir", json=bundle)).json()
    assert answer["entry"][0]["response"]["status"].startswith("200")


async def test_a_far_future_end_is_open_ended(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    karin = await create(client, builders.practitioner())
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{patient['id']}"},
        "participant": [
            {
                "role": [
                    {
                        "coding": [
                            {"system": "https://fhirbridge.se/fhir/CodeSystem/care-role", "code": "fast-vardkontakt"}
                        ]
                    }
                ],
                "member": {"reference": f"Practitioner/{karin['id']}"},
                "period": {"start": "2026-01-01", "end": "9999-12-31"},
            }
        ],
    }
    await create(client, team)
    response = await client.get(f"/fhir/Patient/{patient['id']}/$fixed-contacts")
    assert response.status_code == 200 and response.json()["parameter"][0]["name"] == "fixedCareContact"


async def test_a_versioned_subject_is_the_same_patient_for_the_fixed_contact_rule(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    anna = await create(client, builders.practitioner("SE2321000198-A0001", "Berg", "Anna"))
    bo = await create(client, builders.practitioner("SE2321000198-B0001", "Ek", "Bo"))
    role = {"coding": [{"system": "https://fhirbridge.se/fhir/CodeSystem/care-role", "code": "fast-vardkontakt"}]}
    versioned = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{patient['id']}/_history/1"},
        "participant": [{"role": [role], "member": {"reference": f"Practitioner/{anna['id']}"}}],
    }
    await create(client, versioned)
    plain = dict(versioned, subject={"reference": f"Patient/{patient['id']}"})
    plain["participant"] = [{"role": [role], "member": {"reference": f"Practitioner/{bo['id']}"}}]
    outcome(await client.post("/fhir/CareTeam", json=plain), 409)

"""Transaction and batch Bundles (R4 http.html#transaction)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM
from tests.support import builders
from tests.support.contracts import contract_world


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def post(full_url: str, resource: dict[str, Any], **request: str) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }


def contract_bundle(number: str) -> tuple[dict[str, Any], list[str]]:
    """Patient + CareTeam + two Goals + CarePlan, referring to each other by urn:uuid, plan first."""
    patient, team, goal1, goal2, plan = urn(), urn(), urn(), urn(), urn()
    ref = {"reference": patient}
    entries = [
        post(
            plan,
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": ref,
                "careTeam": [{"reference": team}],
                "goal": [{"reference": goal1}, {"reference": goal2}],
            },
        ),
        post(
            patient,
            builders.patient(number),
            ifNoneExist=f"identifier={PERSONNUMMER_SYSTEM}|{number}",
        ),
        post(team, {"resourceType": "CareTeam", "status": "active", "subject": ref}),
        post(goal1, dict(builders.goal("x"), subject=ref, expressedBy=ref)),
        post(goal2, dict(builders.goal("x", "Gemensamt mål"), subject=ref, expressedBy=ref)),
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, [plan, patient, team, goal1, goal2]


async def count(client: httpx.AsyncClient, resource_type: str) -> int:
    bundle = (await client.get(f"/fhir/{resource_type}", params={"_total": "accurate", "_count": "0"})).json()
    return int(bundle["total"])


async def test_transaction_resolves_uuids_in_any_order(client: httpx.AsyncClient) -> None:
    number = builders.personnummer()
    bundle, _ = contract_bundle(number)
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created"] * 5
    plan = result["entry"][0]["resource"]
    patient_id = result["entry"][1]["resource"]["id"]
    assert plan["subject"]["reference"] == f"Patient/{patient_id}"
    goal_ids = {e["resource"]["id"] for e in result["entry"][3:]}
    assert {g["reference"].split("/")[1] for g in plan["goal"]} == goal_ids
    # The stored plan is what the response says, and search finds it through the new patient.
    found = (await client.get("/fhir/CarePlan", params={"subject": f"Patient/{patient_id}"})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [plan["id"]]


async def test_if_none_exist_in_a_transaction_reuses_the_patient(client: httpx.AsyncClient) -> None:
    number = builders.personnummer()
    first, _ = contract_bundle(number)
    second, _ = contract_bundle(number)
    one = (await client.post("/fhir", json=first)).json()
    two = (await client.post("/fhir", json=second)).json()
    assert two["entry"][1]["response"]["status"] == "200 OK"
    patient_id = one["entry"][1]["resource"]["id"]
    assert two["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    assert await count(client, "Patient") == 1
    assert await count(client, "CarePlan") == 2


async def test_one_bad_entry_fails_the_transaction_and_persists_nothing(client: httpx.AsyncClient) -> None:
    bundle, _ = contract_bundle(builders.personnummer())
    bundle["entry"][3]["resource"]["lifecycleStatus"] = "bogus"
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[3].resource.lifecycleStatus"]
    assert "entry[3]" in issue["diagnostics"]
    for resource_type in ("Patient", "CarePlan", "CareTeam", "Goal"):
        assert await count(client, resource_type) == 0
    assert (await client.get("/fhir/_history")).json().get("entry", []) == []


async def test_a_dangling_reference_names_the_entry(client: httpx.AsyncClient) -> None:
    bundle, _ = contract_bundle(builders.personnummer())
    bundle["entry"][2]["resource"]["participant"] = [{"member": {"reference": "Practitioner/nobody"}}]
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[2].resource.participant[0].member.reference"]
    assert await count(client, "Patient") == 0


async def test_conditional_reference_and_conditional_update(client: httpx.AsyncClient) -> None:
    number = builders.personnummer()
    patient = (await client.post("/fhir", json=contract_bundle(number)[0])).json()["entry"][1]["resource"]
    identifier = "https://region.se/contract|PK-1"
    plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "identifier": [{"system": "https://region.se/contract", "value": "PK-1"}],
        "subject": {"reference": f"Patient?identifier={PERSONNUMMER_SYSTEM}|{number}"},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": plan, "request": {"method": "PUT", "url": f"CarePlan?identifier={identifier}"}}],
    }
    created = await client.post("/fhir", json=bundle)
    assert created.status_code == 200, created.text
    entry = created.json()["entry"][0]
    assert entry["response"]["status"] == "201 Created"
    assert entry["resource"]["subject"]["reference"] == f"Patient/{patient['id']}"
    plan["title"] = "Reviderad"
    updated = (await client.post("/fhir", json=bundle)).json()["entry"][0]
    assert updated["response"]["status"] == "200 OK"
    assert updated["resource"]["id"] == entry["resource"]["id"]
    assert updated["resource"]["meta"]["versionId"] == "2"


async def test_a_conditional_reference_must_match_exactly_one(client: httpx.AsyncClient) -> None:
    plan = builders.care_plan("x")
    plan["subject"] = {"reference": f"Patient?identifier={PERSONNUMMER_SYSTEM}|191212121212"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": plan, "request": {"method": "POST", "url": "CarePlan"}}],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"][0].startswith("Bundle.entry[0]")


async def test_deletes_run_before_creates(client: httpx.AsyncClient) -> None:
    patient = (await client.post("/fhir/Patient", json=builders.patient())).json()
    plan = (await client.post("/fhir/CarePlan", json=builders.care_plan(patient["id"]))).json()
    replacement = builders.care_plan(patient["id"], title="Ny plan")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": replacement, "request": {"method": "POST", "url": "CarePlan"}},
            {"request": {"method": "DELETE", "url": f"CarePlan/{plan['id']}"}},
            {"request": {"method": "GET", "url": f"CarePlan?subject=Patient/{patient['id']}"}},
        ],
    }
    result = (await client.post("/fhir", json=bundle)).json()
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created", "204 No Content", "200 OK"]
    searchset = result["entry"][2]["resource"]
    assert [e["resource"]["title"] for e in searchset["entry"]] == ["Ny plan"]
    assert (await client.get(f"/fhir/CarePlan/{plan['id']}")).status_code == 410


async def test_the_same_resource_twice_is_refused(client: httpx.AsyncClient) -> None:
    body = dict(builders.patient(), id="twice")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": body, "request": {"method": "PUT", "url": "Patient/twice"}}] * 2,
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 400
    assert await count(client, "Patient") == 0


async def test_batch_entries_succeed_or_fail_on_their_own(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": builders.patient(), "request": {"method": "POST", "url": "Patient"}},
            {"resource": dict(builders.patient(), gender="x"), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Patient/nope"}},
            {"request": {"method": "PATCH", "url": "Patient/nope"}},
        ],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert response.json()["type"] == "batch-response"
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "400"
    assert entries[1]["response"]["outcome"]["issue"][0]["expression"] == ["Patient.gender"]
    assert entries[2]["response"]["status"] == "404"
    assert entries[3]["response"]["status"] == "400"  # a PATCH entry without its Binary patch
    assert entries[3]["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[3].resource"]
    assert await count(client, "Patient") == 1


async def test_not_a_batch_or_transaction(client: httpx.AsyncClient) -> None:
    for body in ({"resourceType": "Bundle", "type": "collection"}, {"resourceType": "Patient"}, []):
        response = await client.post("/fhir", json=body)
        assert response.status_code == 400
        assert response.json()["resourceType"] == "OperationOutcome"


async def test_uuid_references_outside_a_transaction_are_refused(client: httpx.AsyncClient) -> None:
    plan = builders.care_plan("x")
    plan["subject"] = {"reference": urn()}
    response = await client.post("/fhir/CarePlan", json=plan)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["CarePlan.subject.reference"]


async def test_a_uuid_reference_to_the_wrong_type_is_refused(client: httpx.AsyncClient) -> None:
    bundle, urns = contract_bundle(builders.personnummer())
    # CarePlan.subject must be a Patient or Group; point it at the CareTeam entry instead.
    bundle["entry"][0]["resource"]["subject"] = {"reference": urns[2]}
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.subject.reference"]
    assert await count(client, "CarePlan") == 0


async def test_a_uuid_reference_is_checked_against_the_profiles_once_rewritten(client: httpx.AsyncClient) -> None:
    """The contract profile narrows CarePlan.author (no RelatedPerson), which the base R4 type
    allows: the profile's targetProfile is checked again after urn:uuid references are rewritten."""
    world = await contract_world(client)
    relative = urn()
    plan = dict(world["contract"], author={"reference": relative})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [post(urn(), plan), post(relative, builders.related_person(world["patient"]["id"]))],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 422, response.text
    assert "Bundle.entry[0].resource.author.reference" in response.json()["issue"][0]["expression"]
    assert await count(client, "CarePlan") == 0
    assert await count(client, "RelatedPerson") == 0


async def test_a_conditional_create_that_matches_is_not_judged_as_if_written(client: httpx.AsyncClient) -> None:
    """R4 http.html#ccreate: when ``ifNoneExist`` matches, the entry is not written and answers
    200 with the match; what its rewritten references would have broken does not count.  The
    same entry with no match is judged, and refused."""
    world = await contract_world(client)
    existing = (await client.post("/fhir/CarePlan", json=world["contract"])).json()
    relative = urn()
    plan = dict(world["contract"], author={"reference": relative})  # the contract profile allows no RelatedPerson

    def bundle(criteria: str) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                post(urn(), plan, ifNoneExist=criteria),
                post(relative, builders.related_person(world["patient"]["id"])),
            ],
        }

    matched = await client.post("/fhir", json=bundle(f"_id={existing['id']}"))
    assert matched.status_code == 200, matched.text
    assert matched.json()["entry"][0]["response"]["status"] == "200 OK"
    unmatched = await client.post("/fhir", json=bundle("_id=no-such-plan"))
    assert unmatched.status_code == 422, unmatched.text
    assert "Bundle.entry[0].resource.author.reference" in unmatched.json()["issue"][0]["expression"]

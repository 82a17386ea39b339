"""PATCH entries in transaction and batch Bundles, as a client sees them (R4 http.html#transaction
and http.html#patch: "the resource in the entry is a Binary resource containing the patch"): the
target as ``[type]/[id]``, ``[type]?criteria`` or the fullUrl of an entry created in the same
transaction, with ``request.ifMatch``; a failed patch fails the whole transaction (nothing
changed) naming its entry, and fails alone in a batch."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx

from tests.support import builders
from tests.support.api import create, history, outcome

JSON_PATCH = "application/json-patch+json"


def binary(operations: Any, content_type: str = JSON_PATCH) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(operations).encode()).decode()
    return {"resourceType": "Binary", "contentType": content_type, "data": data}


def patch_entry(url: str, operations: Any, **request: str) -> dict[str, Any]:
    return {"resource": binary(operations), "request": {"method": "PATCH", "url": url, **request}}


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


async def _scene(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    patient = await create(client, builders.patient())
    plan = await create(
        client, builders.care_plan(patient["id"], identifier=[builders.contract_identifier("kontrakt-17")])
    )
    return patient, plan


async def test_every_form_of_target_is_patched_in_one_transaction(client: httpx.AsyncClient) -> None:
    patient, plan = await _scene(client)
    goal_urn = f"urn:uuid:{uuid.uuid4()}"
    answer = await client.post(
        "/fhir",
        json=bundle(
            "transaction",
            patch_entry(
                f"Patient/{patient['id']}", [{"op": "replace", "path": "/gender", "value": "female"}], ifMatch='W/"1"'
            ),
            patch_entry(
                f"CarePlan?identifier={builders.CONTRACT_SYSTEM}|kontrakt-17",
                [
                    {"op": "replace", "path": "/title", "value": "Mitt kontrakt"},
                    {"op": "add", "path": "/goal", "value": [{"reference": goal_urn}]},  # rewritten like a reference
                ],
            ),
            patch_entry(goal_urn, [{"op": "replace", "path": "/description/text", "value": "Gå till affären"}]),
            {
                "fullUrl": goal_urn,
                "resource": builders.goal(patient["id"]),
                "request": {"method": "POST", "url": "Goal"},
            },
        ),
    )
    assert answer.status_code == 200, answer.text
    responses = [entry["response"] for entry in answer.json()["entry"]]
    assert [r["status"] for r in responses] == ["200 OK", "200 OK", "200 OK", "201 Created"]
    assert [r["etag"] for r in responses] == ['W/"2"', 'W/"2"', 'W/"2"', 'W/"1"']
    goal_id = responses[3]["location"].split("/")[1]
    assert (await client.get(f"/fhir/Patient/{patient['id']}")).json()["gender"] == "female"
    read_plan = (await client.get(f"/fhir/CarePlan/{plan['id']}")).json()
    assert read_plan["title"] == "Mitt kontrakt"
    assert read_plan["goal"] == [{"reference": f"Goal/{goal_id}"}]
    assert (await client.get(f"/fhir/Goal/{goal_id}")).json()["description"]["text"] == "Gå till affären"
    methods = [e["request"]["method"] for e in await history(client, f"Goal/{goal_id}/_history")]
    assert methods == ["PATCH", "POST"]
    assert [e["request"]["method"] for e in await history(client, f"CarePlan/{plan['id']}/_history")] == [
        "PATCH",
        "POST",
    ]


async def test_a_failed_patch_rolls_back_the_whole_transaction_naming_its_entry(client: httpx.AsyncClient) -> None:
    patient, plan = await _scene(client)
    good = patch_entry(f"Patient/{patient['id']}", [{"op": "replace", "path": "/gender", "value": "female"}])
    created = {"resource": builders.goal(patient["id"]), "request": {"method": "POST", "url": "Goal"}}
    failing: list[tuple[dict[str, Any], int, str]] = [
        (patch_entry(f"CarePlan/{plan['id']}", [{"op": "test", "path": "/title", "value": "Annat"}]), 409, ""),
        (patch_entry(f"CarePlan/{plan['id']}", [{"op": "remove", "path": "/title"}], ifMatch='W/"7"'), 412, ""),
        (patch_entry(f"CarePlan/{plan['id']}", [{"op": "replace", "path": "/status", "value": "bogus"}]), 400, ""),
        (patch_entry("CarePlan/no-such-plan", [{"op": "remove", "path": "/title"}]), 404, ""),
        (
            patch_entry(f"CarePlan?identifier={builders.CONTRACT_SYSTEM}|none", [{"op": "remove", "path": "/title"}]),
            404,
            "",
        ),
        (patch_entry("urn:uuid:6d5a6a4e-0000-4000-8000-000000000000", [{"op": "remove", "path": "/title"}]), 404, ""),
        (patch_entry(f"CarePlan/{plan['id']}", {"op": "remove"}), 400, ".resource"),
        (
            {"resource": binary([], "text/plain"), "request": {"method": "PATCH", "url": f"CarePlan/{plan['id']}"}},
            415,
            ".resource",
        ),
        (
            {
                "resource": {"resourceType": "Binary", "contentType": JSON_PATCH, "data": "%%%"},
                "request": {"method": "PATCH", "url": f"CarePlan/{plan['id']}"},
            },
            400,
            ".resource.data",
        ),
        ({"request": {"method": "PATCH", "url": f"CarePlan/{plan['id']}"}}, 400, ".resource"),
    ]
    for entry, status, where in failing:
        answer = outcome(await client.post("/fhir", json=bundle("transaction", good, created, entry)), status)
        expressions = [e for issue in answer["issue"] for e in issue.get("expression", [])]
        assert all(e.startswith("Bundle.entry[2]") for e in expressions), (status, answer)
        assert any(e.startswith(f"Bundle.entry[2]{where}") for e in expressions), (status, answer)
        assert "entry[2]" in answer["issue"][0]["diagnostics"]
    assert (await client.get(f"/fhir/Patient/{patient['id']}")).json()["meta"]["versionId"] == "1"
    assert (await client.get(f"/fhir/CarePlan/{plan['id']}")).json() == plan
    assert "entry" not in (await client.get("/fhir/Goal")).json()


async def test_two_patches_of_one_resource_are_refused(client: httpx.AsyncClient) -> None:
    patient, _ = await _scene(client)
    url = f"Patient/{patient['id']}"
    twice = bundle(
        "transaction",
        patch_entry(url, [{"op": "replace", "path": "/gender", "value": "female"}]),
        patch_entry(url, [{"op": "replace", "path": "/gender", "value": "other"}]),
    )
    outcome(await client.post("/fhir", json=twice), 400)
    assert (await client.get(f"/fhir/{url}")).json()["gender"] == "male"


async def test_in_a_batch_a_failed_patch_fails_alone(client: httpx.AsyncClient) -> None:
    patient, plan = await _scene(client)
    answer = await client.post(
        "/fhir",
        json=bundle(
            "batch",
            patch_entry(f"Patient/{patient['id']}", [{"op": "replace", "path": "/gender", "value": "female"}]),
            patch_entry(f"CarePlan/{plan['id']}", [{"op": "test", "path": "/title", "value": "Annat"}]),
            patch_entry(
                f"CarePlan?identifier={builders.CONTRACT_SYSTEM}|kontrakt-17",
                [{"op": "replace", "path": "/title", "value": "Nytt"}],
                ifMatch='W/"1"',
            ),
            patch_entry(f"urn:uuid:{uuid.uuid4()}", [{"op": "remove", "path": "/title"}]),
            {
                "resource": {"resourceType": "Parameters"},
                "request": {"method": "PATCH", "url": f"Patient/{patient['id']}"},
            },
            patch_entry(
                f"CarePlan/{plan['id']}", [{"op": "replace", "path": "/title", "value": "Sist"}], ifMatch='W/"1"'
            ),
        ),
    )
    assert answer.status_code == 200, answer.text
    responses = [entry["response"] for entry in answer.json()["entry"]]
    assert [r["status"] for r in responses] == ["200 OK", "409", "200 OK", "400", "400", "412"]
    assert responses[0]["etag"] == 'W/"2"'
    assert responses[3]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[3].request.url"]
    assert responses[4]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[4].resource.parameter"]
    assert (await client.get(f"/fhir/Patient/{patient['id']}")).json()["gender"] == "female"
    assert (await client.get(f"/fhir/CarePlan/{plan['id']}")).json()["title"] == "Nytt"

"""``GET /fhir/CarePlan/{id}/$revisions``: every version, who changed it for which unit, and what changed."""

from __future__ import annotations

import json
from typing import Any

import httpx

from fhirbridge.contract.revisions import differences
from tests.support import builders
from tests.support.api import create, outcome


def _revisions(body: dict[str, Any]) -> list[dict[str, list[Any]]]:
    found = []
    for parameter in body.get("parameter", []):
        parts: dict[str, list[Any]] = {}
        for part in parameter["part"]:
            parts.setdefault(part["name"], []).append(next(v for k, v in part.items() if k.startswith("value")))
        found.append(parts)
    return found


async def test_the_trail_names_each_version_its_author_and_its_changes(client: httpx.AsyncClient) -> None:
    unit = await create(client, builders.organization("SE2120001876-E0000000002", "Sandvikens kommun"))
    person = await create(client, builders.practitioner("SE2120001876-DSK01", "Lund", "Sara"))
    role = await create(client, builders.practitioner_role(person["id"], unit["id"]))
    patient = await create(client, builders.patient())
    plan = await create(client, builders.care_plan(patient["id"], status="draft"))

    plan["status"] = "active"
    plan["activity"] = [{"detail": {"status": "scheduled", "description": "Promenad 30 minuter varje dag"}}]
    header = {
        "resourceType": "Provenance",
        "agent": [
            {
                "who": {"reference": f"PractitionerRole/{role['id']}", "display": "Sara Lund"},
                "onBehalfOf": {"reference": f"Organization/{unit['id']}"},
            }
        ],
    }
    response = await client.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers={"X-Provenance": json.dumps(header)})
    assert response.status_code == 200, response.text

    answer = await client.get(f"/fhir/CarePlan/{plan['id']}/$revisions")
    assert answer.status_code == 200, answer.text
    first, second = _revisions(answer.json())
    assert first["version"] == [1] and first["action"] == ["create"] and first["change"] == ["created"]
    assert second["version"] == [2] and second["action"] == ["update"]
    assert second["who"] == [{"reference": f"PractitionerRole/{role['id']}", "display": "Sara Lund"}]
    assert second["onBehalfOf"] == [{"reference": f"Organization/{unit['id']}"}]
    assert "status: draft → active" in second["change"]
    assert "activity added: Promenad 30 minuter varje dag" in second["change"]


async def test_a_deletion_is_a_revision(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    goal = await create(client, builders.goal(patient["id"]))
    assert (await client.delete(f"/fhir/Goal/{goal['id']}")).status_code in (200, 204)
    revisions = _revisions((await client.get(f"/fhir/Goal/{goal['id']}/$revisions")).json())
    assert [r["action"] for r in revisions] == [["create"], ["delete"]]


async def test_unknown_resources_and_types(client: httpx.AsyncClient) -> None:
    outcome(await client.get("/fhir/CarePlan/finns-inte/$revisions"), 404)
    patient = await create(client, builders.patient())
    outcome(await client.get(f"/fhir/Patient/{patient['id']}/$revisions"), 404)


def test_differences_read_like_a_change_log() -> None:
    before = {
        "resourceType": "CarePlan",
        "meta": {"versionId": "1"},
        "status": "active",
        "goal": [{"reference": "Goal/a"}, {"reference": "Goal/b"}],
        "note": [{"text": "Ring vid feber"}],
    }
    after = {
        "resourceType": "CarePlan",
        "meta": {"versionId": "2"},
        "status": "active",
        "goal": [{"reference": "Goal/a"}],
        "note": [{"text": "Ring vid feber över 38,5"}],
        "period": {"end": "2027-06-30"},
    }
    assert differences(before, after) == [
        "goal[1] removed: Goal/b",
        "note[0].text: Ring vid feber → Ring vid feber över 38,5",
        "period added: 2027-06-30",
    ]
    assert differences(before, before) == []
    assert differences(None, after) == ["created"]
    assert differences(before, None) == ["deleted"]

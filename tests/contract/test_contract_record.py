"""The contract record, completed (issue 13.4): the shared goal's ambition level, a declined
contract offer, and the date the need for a fixed care contact is next re-assessed."""

from __future__ import annotations

from typing import Any

import httpx

from fhirbridge.conformance.validator import DECLINED_OFFER_PROFILE, GOAL_PROFILE
from fhirbridge.contract.codes import (
    AMBITION_LEVEL_EXTENSION,
    AMBITION_LEVEL_SYSTEM,
    FIXED_CONTACT_REASSESSMENT_EXTENSION,
    OFFER_DECLINED_EXTENSION,
    PLAN_TYPE_SYSTEM,
    PLAN_TYPES,
    concept,
)
from tests.support.api import create, expressions, outcome
from tests.support.contracts import contract_world


def declined_offer(patient_id: str, author: str, **extra: Any) -> dict[str, Any]:
    """A contract offered and declined: revoked, a proposal, with the day the patient said no."""
    return {
        "resourceType": "CarePlan",
        "extension": [{"url": OFFER_DECLINED_EXTENSION, "valueDateTime": "2026-11-02"}],
        "status": "revoked",
        "intent": "proposal",
        "category": [concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, "patientkontrakt")],
        "title": "Erbjudande om patientkontrakt",
        "subject": {"reference": f"Patient/{patient_id}"},
        "author": {"reference": author},
        **extra,
    }


async def test_a_declined_offer_is_recorded_without_goals_and_found(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    author = f"PractitionerRole/{world['role']['id']}"
    stored = await create(client, declined_offer(world["patient"]["id"], author))
    assert stored["extension"][0]["valueDateTime"] == "2026-11-02"
    found = await client.get(
        "/fhir/CarePlan",
        params={"subject": f"Patient/{world['patient']['id']}", "status": "revoked", "category": "patientkontrakt"},
    )
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [stored["id"]]
    claimed = declined_offer(world["patient"]["id"], author, meta={"profile": [DECLINED_OFFER_PROFILE]})
    await create(client, claimed)


async def test_a_declined_offer_is_held_to_its_profile(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    patient, author = world["patient"]["id"], f"PractitionerRole/{world['role']['id']}"
    wrong = {
        "CarePlan.status": declined_offer(patient, author, status="active"),
        "CarePlan.intent": declined_offer(patient, author, intent="plan"),
        "CarePlan.author": {k: v for k, v in declined_offer(patient, author).items() if k != "author"},
        "CarePlan.extension[0].valueDate": declined_offer(
            patient, author, extension=[{"url": OFFER_DECLINED_EXTENSION, "valueDate": "2026-11-02"}]
        ),
    }
    for where, body in wrong.items():
        refused = outcome(await client.post("/fhir/CarePlan", json=body), 422)
        assert any(e.startswith(where) for e in expressions(refused)), (where, refused)
    # a contract without the extension is a contract: every part is still required
    plain = {k: v for k, v in declined_offer(patient, author).items() if k != "extension"}
    refused = outcome(await client.post("/fhir/CarePlan", json=plain), 422)
    assert {"CarePlan.careTeam", "CarePlan.goal"} <= set(expressions(refused))


async def test_the_reassessment_date_is_recorded_on_the_care_team_and_the_contract(
    client: httpx.AsyncClient,
) -> None:
    world = await contract_world(client)
    reassess = [{"url": FIXED_CONTACT_REASSESSMENT_EXTENSION, "valueDate": "2027-05-01"}]
    team = dict(world["team"], extension=reassess, meta={"profile": [world_profile("contract-careteam")]})
    updated = await client.put(f"/fhir/CareTeam/{team['id']}", json=team)
    assert updated.status_code == 200, updated.text
    assert updated.json()["extension"] == reassess
    plan = await create(client, dict(world["contract"], extension=reassess))
    assert plan["extension"] == reassess
    wrong = dict(world["contract"], extension=[{"url": FIXED_CONTACT_REASSESSMENT_EXTENSION, "valueString": "i vår"}])
    refused = outcome(await client.post("/fhir/CarePlan", json=wrong), 422)
    assert any(e.startswith("CarePlan.extension[0]") for e in expressions(refused)), refused


def world_profile(name: str) -> str:
    return f"https://fhirbridge.se/fhir/StructureDefinition/{name}"


def ambition(code: str) -> list[dict[str, Any]]:
    return [
        {
            "url": AMBITION_LEVEL_EXTENSION,
            "valueCodeableConcept": {"coding": [{"system": AMBITION_LEVEL_SYSTEM, "code": code}]},
        }
    ]


async def test_the_shared_goal_carries_its_ambition_level(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    goal = dict(world["goal"], meta={"profile": [GOAL_PROFILE]}, extension=ambition("lindrande"))
    del goal["id"]
    stored = await create(client, goal)
    assert stored["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "lindrande"
    refused = outcome(await client.post("/fhir/Goal", json=dict(goal, extension=ambition("maximal"))), 422)
    assert any(e.startswith("Goal.extension[0]") for e in expressions(refused)), refused

"""A contract's ``contributor`` list follows the units that revised it (issue 4)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support import builders
from tests.support.api import create
from tests.support.contracts import contract_world


def _acting_for(unit: dict[str, Any]) -> dict[str, str]:
    header = {
        "resourceType": "Provenance",
        "agent": [{"who": {"display": "Sara Lund"}, "onBehalfOf": {"reference": f"Organization/{unit['id']}"}}],
    }
    return {"X-Provenance": json.dumps(header)}


async def test_each_revising_unit_joins_the_contributors_once(client: httpx.AsyncClient) -> None:
    hospital = await create(client, builders.organization("SE2321000198-E0000000003", "Gävle sjukhus, medicin"))
    municipality = await create(client, builders.organization("SE2120001876-E0000000002", "Sandvikens kommun"))
    world = await contract_world(client)

    response = await client.post("/fhir/CarePlan", json=world["contract"], headers=_acting_for(hospital))
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["contributor"] == [{"reference": f"Organization/{hospital['id']}"}]

    plan["description"] = "Hemtjänst två gånger per dag"
    plan = (await client.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=_acting_for(municipality))).json()
    assert [c["reference"] for c in plan["contributor"]] == [
        f"Organization/{hospital['id']}",
        f"Organization/{municipality['id']}",
    ]

    plan["description"] = "Hemtjänst tre gånger per dag"
    plan = (await client.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=_acting_for(municipality))).json()
    assert len(plan["contributor"]) == 2 and plan["meta"]["versionId"] == "3"


async def test_other_care_plans_are_stored_as_sent(client: httpx.AsyncClient) -> None:
    unit = await create(client, builders.organization())
    patient = await create(client, builders.patient())
    response = await client.post("/fhir/CarePlan", json=builders.care_plan(patient["id"]), headers=_acting_for(unit))
    assert "contributor" not in response.json()


async def test_without_a_unit_nothing_is_added(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    assert "contributor" not in await create(client, world["contract"])

"""The signal to the fixed care contact (seed 001): when someone else establishes or revises the
contract, a Communication to the contact is recorded, and their subscription delivers it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI

from fhirbridge.notifications.delivery import OutboxWorker
from tests.support import builders
from tests.support.api import create
from tests.support.contracts import contract_world

HOOK = "https://journal.region.example/notify"


def _as(who: str, display: str) -> dict[str, str]:
    return {
        "X-Provenance": json.dumps(
            {"resourceType": "Provenance", "agent": [{"who": {"reference": who, "display": display}}]}
        )
    }


@pytest.fixture
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """Karin Lind is the fixed care contact; Bo Ek works at the same unit."""
    world = await contract_world(client)
    bo = await create(client, builders.practitioner("SE2321000198-BO001", "Ek", "Bo"))
    world["bo_role"] = await create(client, builders.practitioner_role(bo["id"], world["unit"]["id"]))
    world["karin_role"] = world["role"]
    return world


async def _messages_to(client: httpx.AsyncClient, recipient: str) -> list[dict[str, Any]]:
    bundle = (await client.get("/fhir/Communication", params={"recipient": recipient, "_sort": "_lastUpdated"})).json()
    return [entry["resource"] for entry in bundle.get("entry", [])]


async def test_a_contract_established_by_someone_else_signals_the_fixed_care_contact(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    bo = f"PractitionerRole/{world['bo_role']['id']}"
    response = await client.post("/fhir/CarePlan", json=world["contract"], headers=_as(bo, "Bo Ek"))
    assert response.status_code == 201, response.text
    plan = response.json()
    [message] = await _messages_to(client, f"PractitionerRole/{world['karin_role']['id']}")
    assert message["about"] == [{"reference": f"CarePlan/{plan['id']}/_history/1"}]
    assert message["subject"] == {"reference": f"Patient/{world['patient']['id']}"}
    assert message["sender"] == {"reference": bo}
    assert message["topic"]["text"] == "Patientkontraktet har upprättats"
    assert "Bo Ek" in message["payload"][0]["contentString"]

    plan["description"] = "Ny egenvårdsinsats"
    assert (await client.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=_as(bo, "Bo Ek"))).status_code == 200
    messages = await _messages_to(client, f"PractitionerRole/{world['karin_role']['id']}")
    assert [m["topic"]["text"] for m in messages] == [
        "Patientkontraktet har upprättats",
        "Patientkontraktet har reviderats",
    ]


async def test_no_signal_when_the_fixed_care_contact_writes_the_contract(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    karin_role = f"PractitionerRole/{world['karin_role']['id']}"
    await client.post("/fhir/CarePlan", json=world["contract"], headers=_as(karin_role, "Karin Lind"))
    as_person = f"Practitioner/{world['karin']['id']}"  # the same person, by her Practitioner
    await client.post("/fhir/CarePlan", json=world["contract"], headers=_as(as_person, "Karin Lind"))
    assert await _messages_to(client, karin_role) == []


async def test_an_unknown_writer_is_someone_else(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    await create(client, world["contract"])
    assert len(await _messages_to(client, f"PractitionerRole/{world['karin_role']['id']}")) == 1


async def test_other_care_plans_send_no_signal(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    await create(client, builders.care_plan(world["patient"]["id"]))  # not a contract
    assert await _messages_to(client, f"PractitionerRole/{world['karin_role']['id']}") == []


@respx.mock(assert_all_called=False)
async def test_the_contacts_system_is_notified_through_its_subscription(
    respx_mock: respx.MockRouter, app: FastAPI, client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    hook = respx_mock.post(HOOK).mock(return_value=httpx.Response(200))
    karin_role = f"PractitionerRole/{world['karin_role']['id']}"
    await create(client, builders.subscription(f"Communication?recipient={karin_role}", HOOK))
    await client.post(
        "/fhir/CarePlan", json=world["contract"], headers=_as(f"PractitionerRole/{world['bo_role']['id']}", "Bo")
    )
    worker = OutboxWorker(app.state.context.repository.database, max_age_us=3_600_000_000)
    assert await worker.deliver_due() == 1
    assert hook.call_count == 1


async def test_a_contract_that_was_signalled_can_still_be_deleted(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    plan = await create(client, world["contract"])
    assert len(await _messages_to(client, f"PractitionerRole/{world['karin_role']['id']}")) == 1
    assert (await client.delete(f"/fhir/CarePlan/{plan['id']}")).status_code in (200, 204)


async def test_re_sending_the_same_contract_changes_nothing(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    header = {
        "X-Provenance": json.dumps(
            {
                "resourceType": "Provenance",
                "agent": [
                    {
                        "who": {"reference": f"PractitionerRole/{world['bo_role']['id']}"},
                        "onBehalfOf": {"reference": f"Organization/{world['unit']['id']}"},
                    }
                ],
            }
        )
    }
    first = await client.post("/fhir/CarePlan", json=world["contract"], headers=header)
    plan = first.json()
    body = dict(world["contract"], id=plan["id"])  # what the journal system holds: no server-added contributor
    for _ in range(2):
        again = await client.put(f"/fhir/CarePlan/{plan['id']}", json=body, headers=header)
        assert again.status_code == 200 and again.json()["meta"]["versionId"] == "1"
    assert len(await _messages_to(client, f"PractitionerRole/{world['karin_role']['id']}")) == 1

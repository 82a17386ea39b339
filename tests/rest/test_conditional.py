"""Conditional create, update and delete (R4 http.html#ccreate, #cond-update, #cdelete).

A patient contract is addressed by its business identifier, as an integrating journal
system would: ``PUT /fhir/CarePlan?identifier=system|value``.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support import builders
from tests.support.api import create, history, match_ids, outcome

CONTRACT = "kontrakt-2026-0001"
CRITERIA = {"identifier": f"{builders.CONTRACT_SYSTEM}|{CONTRACT}"}


@pytest.fixture
async def patient_id(client: httpx.AsyncClient) -> str:
    return (await create(client, builders.patient()))["id"]


def contract(patient_id: str, title: str = "Patientkontrakt", value: str = CONTRACT) -> dict:
    return builders.care_plan(patient_id, title=title, identifier=[builders.contract_identifier(value)])


async def contracts(client: httpx.AsyncClient, value: str = CONTRACT) -> list[str]:
    bundle = (await client.get("/fhir/CarePlan", params={"identifier": f"{builders.CONTRACT_SYSTEM}|{value}"})).json()
    return match_ids(bundle)


def if_none_exist(value: str = CONTRACT) -> dict[str, str]:
    return {"If-None-Exist": f"identifier={builders.CONTRACT_SYSTEM}|{value}"}


# -- conditional create ----------------------------------------------------------------


async def test_conditional_create_without_match_creates(client: httpx.AsyncClient, patient_id: str) -> None:
    response = await client.post("/fhir/CarePlan", json=contract(patient_id), headers=if_none_exist())
    assert response.status_code == 201
    assert response.headers["location"].endswith("/_history/1")
    assert await contracts(client) == [response.json()["id"]]


async def test_conditional_create_with_one_match_returns_it_and_creates_nothing(
    client: httpx.AsyncClient, patient_id: str
) -> None:
    existing = await create(client, contract(patient_id))
    response = await client.post(
        "/fhir/CarePlan", json=contract(patient_id, title="Ett annat kontrakt"), headers=if_none_exist()
    )
    assert response.status_code == 200
    assert response.json()["id"] == existing["id"]
    assert response.json()["title"] == "Patientkontrakt"
    assert response.headers["etag"] == 'W/"1"'
    assert await contracts(client) == [existing["id"]]
    assert len(await history(client, "CarePlan/_history")) == 1


async def test_conditional_create_with_several_matches_is_412(client: httpx.AsyncClient, patient_id: str) -> None:
    await create(client, contract(patient_id))
    await create(client, contract(patient_id))
    response = await client.post("/fhir/CarePlan", json=contract(patient_id), headers=if_none_exist())
    outcome(response, 412)
    assert len(await contracts(client)) == 2


async def test_conditional_create_with_unknown_criteria_is_refused(client: httpx.AsyncClient, patient_id: str) -> None:
    # An ignored parameter would widen the match to "everything": the criteria must be understood.
    response = await client.post("/fhir/CarePlan", json=contract(patient_id), headers={"If-None-Exist": "kontrakt=1"})
    assert outcome(response, 400)["issue"][0]["code"] == "not-supported"
    assert await contracts(client) == []


async def test_conditional_create_validates_the_body_even_when_a_match_exists(
    client: httpx.AsyncClient, patient_id: str
) -> None:
    await create(client, contract(patient_id))
    invalid = dict(contract(patient_id), status="pågående")
    response = await client.post("/fhir/CarePlan", json=invalid, headers=if_none_exist())
    outcome(response, 400)


# -- conditional update ----------------------------------------------------------------


async def test_conditional_update_without_match_creates(client: httpx.AsyncClient, patient_id: str) -> None:
    response = await client.put("/fhir/CarePlan", params=CRITERIA, json=contract(patient_id))
    assert response.status_code == 201
    created = response.json()
    assert created["meta"]["versionId"] == "1"
    assert response.headers["location"].endswith(f"/CarePlan/{created['id']}/_history/1")
    assert await contracts(client) == [created["id"]]


async def test_conditional_update_with_one_match_updates_it(client: httpx.AsyncClient, patient_id: str) -> None:
    existing = await create(client, contract(patient_id))
    response = await client.put("/fhir/CarePlan", params=CRITERIA, json=contract(patient_id, title="Reviderat"))
    assert response.status_code == 200
    assert response.json()["id"] == existing["id"]
    assert response.json()["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'
    assert (await client.get(f"/fhir/CarePlan/{existing['id']}")).json()["title"] == "Reviderat"


async def test_conditional_update_with_several_matches_is_412_and_changes_nothing(
    client: httpx.AsyncClient, patient_id: str
) -> None:
    first = await create(client, contract(patient_id))
    second = await create(client, contract(patient_id))
    response = await client.put("/fhir/CarePlan", params=CRITERIA, json=contract(patient_id, title="Reviderat"))
    outcome(response, 412)
    for existing in (first, second):
        current = (await client.get(f"/fhir/CarePlan/{existing['id']}")).json()
        assert current["meta"]["versionId"] == "1" and current["title"] == "Patientkontrakt"


async def test_conditional_update_body_id_of_the_match_is_accepted(client: httpx.AsyncClient, patient_id: str) -> None:
    existing = await create(client, contract(patient_id))
    body = dict(contract(patient_id, title="Reviderat"), id=existing["id"])
    response = await client.put("/fhir/CarePlan", params=CRITERIA, json=body)
    assert response.status_code == 200
    assert response.json()["id"] == existing["id"]


async def test_conditional_update_body_id_other_than_the_match_is_400(
    client: httpx.AsyncClient, patient_id: str
) -> None:
    existing = await create(client, contract(patient_id))
    body = dict(contract(patient_id, title="Reviderat"), id="ett-annat-id")
    response = await client.put("/fhir/CarePlan", params=CRITERIA, json=body)
    assert "CarePlan.id" in str(outcome(response, 400))
    assert (await client.get(f"/fhir/CarePlan/{existing['id']}")).json()["meta"]["versionId"] == "1"


async def test_conditional_update_without_match_and_new_body_id_is_update_as_create(
    client: httpx.AsyncClient, patient_id: str
) -> None:
    body = dict(contract(patient_id), id="kontrakt-2026-0001")
    response = await client.put("/fhir/CarePlan", params=CRITERIA, json=body)
    assert response.status_code == 201
    assert response.json()["id"] == "kontrakt-2026-0001"


async def test_conditional_update_without_match_never_overwrites_an_unrelated_resource(
    client: httpx.AsyncClient, patient_id: str
) -> None:
    unrelated = await create(client, contract(patient_id, title="Ett annat kontrakt", value="kontrakt-2025-0042"))
    body = dict(contract(patient_id, title="Kapat"), id=unrelated["id"])
    response = await client.put("/fhir/CarePlan", params=CRITERIA, json=body)
    assert response.status_code in (400, 409, 412, 422), response.text
    assert (await client.get(f"/fhir/CarePlan/{unrelated['id']}")).json()["title"] == "Ett annat kontrakt"


async def test_conditional_update_needs_criteria(client: httpx.AsyncClient, patient_id: str) -> None:
    outcome(await client.put("/fhir/CarePlan", json=contract(patient_id)), 400)
    outcome(await client.put("/fhir/CarePlan", params={"_format": "json"}, json=contract(patient_id)), 400)


async def test_conditional_update_with_unknown_criteria_is_refused(client: httpx.AsyncClient, patient_id: str) -> None:
    await create(client, contract(patient_id))
    response = await client.put("/fhir/CarePlan", params={"kontrakt": CONTRACT}, json=contract(patient_id))
    outcome(response, 400)
    assert len(await history(client, "CarePlan/_history")) == 1


async def test_conditional_update_honours_if_match(client: httpx.AsyncClient, patient_id: str) -> None:
    existing = await create(client, contract(patient_id))
    stale = await client.put(
        "/fhir/CarePlan", params=CRITERIA, json=contract(patient_id, title="Reviderat"), headers={"If-Match": 'W/"2"'}
    )
    outcome(stale, 412)
    fresh = await client.put(
        "/fhir/CarePlan", params=CRITERIA, json=contract(patient_id, title="Reviderat"), headers={"If-Match": 'W/"1"'}
    )
    assert fresh.status_code == 200
    assert fresh.json()["id"] == existing["id"]


async def test_conditional_update_is_recorded_as_a_plain_update_in_history(
    client: httpx.AsyncClient, patient_id: str
) -> None:
    created = (await client.put("/fhir/CarePlan", params=CRITERIA, json=contract(patient_id))).json()
    await client.put("/fhir/CarePlan", params=CRITERIA, json=contract(patient_id, title="Reviderat"))
    entries = await history(client, f"CarePlan/{created['id']}/_history")
    assert [e["request"]["method"] for e in entries] == ["PUT", "PUT"]
    assert all(e["request"]["url"] == f"CarePlan/{created['id']}" for e in entries)


# -- conditional delete ----------------------------------------------------------------


async def test_conditional_delete_with_one_match_deletes_it(client: httpx.AsyncClient, patient_id: str) -> None:
    existing = await create(client, contract(patient_id))
    response = await client.delete("/fhir/CarePlan", params=CRITERIA)
    assert response.status_code in (200, 204)
    assert (await client.get(f"/fhir/CarePlan/{existing['id']}")).status_code == 410
    assert await contracts(client) == []


async def test_conditional_delete_without_match_is_harmless(client: httpx.AsyncClient, patient_id: str) -> None:
    other = await create(client, contract(patient_id, value="kontrakt-2025-0042"))
    response = await client.delete("/fhir/CarePlan", params=CRITERIA)
    assert response.status_code in (200, 204)
    assert (await client.get(f"/fhir/CarePlan/{other['id']}")).status_code == 200


async def test_conditional_delete_with_several_matches_is_412_and_deletes_nothing(
    client: httpx.AsyncClient, patient_id: str
) -> None:
    await create(client, contract(patient_id))
    await create(client, contract(patient_id))
    outcome(await client.delete("/fhir/CarePlan", params=CRITERIA), 412)
    assert len(await contracts(client)) == 2


async def test_conditional_delete_needs_criteria(client: httpx.AsyncClient, patient_id: str) -> None:
    await create(client, contract(patient_id))
    outcome(await client.delete("/fhir/CarePlan"), 400)
    assert len(await contracts(client)) == 1


async def test_conditional_delete_of_a_referenced_resource_is_409(client: httpx.AsyncClient, patient_id: str) -> None:
    plan = await create(client, contract(patient_id))
    number = (await client.get(f"/fhir/Patient/{patient_id}")).json()["identifier"][0]["value"]
    response = await client.delete("/fhir/Patient", params={"identifier": number})
    assert f"CarePlan/{plan['id']}" in outcome(response, 409)["issue"][0]["diagnostics"]
    assert (await client.get(f"/fhir/Patient/{patient_id}")).status_code == 200

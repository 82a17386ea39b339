"""Writers at the same moment (R4 http.html#concurrency): no lost update, no duplicate.

Requests are sent together with ``asyncio.gather``; on PostgreSQL each runs on its own
connection, so the server's locks are what keeps the outcome right.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.support import builders
from tests.support.api import create, history, match_ids


async def test_two_updates_of_the_same_version_one_wins_one_gets_412(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    bodies = [dict(created, gender="female"), dict(created, gender="other")]
    responses = await asyncio.gather(*(client.put(url, json=body, headers={"If-Match": 'W/"1"'}) for body in bodies))
    assert sorted(r.status_code for r in responses) == [200, 412]
    winner = next(r for r in responses if r.status_code == 200).json()
    current = (await client.get(url)).json()
    assert current["meta"]["versionId"] == "2"
    assert current["gender"] == winner["gender"]
    assert len(await history(client, f"Patient/{created['id']}/_history")) == 2


async def test_concurrent_updates_without_if_match_all_land_as_versions(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    genders = ["female", "other", "unknown", "male"]
    responses = await asyncio.gather(*(client.put(url, json=dict(created, gender=g)) for g in genders))
    assert all(r.status_code == 200 for r in responses)
    assert sorted(r.headers["etag"] for r in responses) == ['W/"2"', 'W/"3"', 'W/"4"', 'W/"5"']
    entries = await history(client, f"Patient/{created['id']}/_history")
    assert [e["resource"]["meta"]["versionId"] for e in entries] == ["5", "4", "3", "2", "1"]
    # Every update is kept in history with the content its client sent.
    by_version = {e["resource"]["meta"]["versionId"]: e["resource"]["gender"] for e in entries}
    for response in responses:
        assert by_version[response.json()["meta"]["versionId"]] == response.json()["gender"]


async def test_twenty_identical_conditional_creates_leave_one_resource(client: httpx.AsyncClient) -> None:
    body = builders.patient()
    identifier = body["identifier"][0]
    header = {"If-None-Exist": f"identifier={identifier['system']}|{identifier['value']}"}
    responses = await asyncio.gather(*(client.post("/fhir/Patient", json=body, headers=header) for _ in range(20)))
    assert Counter(r.status_code for r in responses) == {201: 1, 200: 19}
    assert len({r.json()["id"] for r in responses}) == 1
    search = await client.get("/fhir/Patient", params={"identifier": f"{identifier['system']}|{identifier['value']}"})
    assert len(match_ids(search.json())) == 1


async def test_twenty_identical_conditional_updates_leave_one_resource(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    criteria = {"identifier": f"{builders.CONTRACT_SYSTEM}|kontrakt-77"}
    bodies = [
        builders.care_plan(
            patient["id"], title=f"Version {i}", identifier=[builders.contract_identifier("kontrakt-77")]
        )
        for i in range(20)
    ]
    responses = await asyncio.gather(*(client.put("/fhir/CarePlan", params=criteria, json=b) for b in bodies))
    assert Counter(r.status_code for r in responses) == {201: 1, 200: 19}
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    assert match_ids((await client.get("/fhir/CarePlan", params=criteria)).json()) == list(ids)
    assert len(await history(client, f"CarePlan/{ids.pop()}/_history")) == 20


async def test_concurrent_update_as_create_of_one_id_creates_once(client: httpx.AsyncClient) -> None:
    bodies = [dict(builders.patient(), id="pnr-197001012384", gender=g) for g in ("female", "male")]
    responses = await asyncio.gather(*(client.put("/fhir/Patient/pnr-197001012384", json=b) for b in bodies))
    assert sorted(r.status_code for r in responses) == [200, 201]
    entries = await history(client, "Patient/pnr-197001012384/_history")
    assert [e["resource"]["meta"]["versionId"] for e in entries] == ["2", "1"]


async def test_deleting_a_patient_while_a_contract_for_it_is_created_stays_consistent(
    client: httpx.AsyncClient,
) -> None:
    """Whichever write goes first, no contract may end up pointing at a deleted patient."""
    for delete_first in (True, False):
        patient = await create(client, builders.patient())
        delete = client.delete(f"/fhir/Patient/{patient['id']}")
        plan = client.post("/fhir/CarePlan", json=builders.care_plan(patient["id"]))
        if delete_first:
            deleted, created = await asyncio.gather(delete, plan)
        else:
            created, deleted = await asyncio.gather(plan, delete)
        patient_now = await client.get(f"/fhir/Patient/{patient['id']}")
        if created.status_code == 201:
            assert deleted.status_code == 409
            assert patient_now.status_code == 200
        else:
            assert created.status_code == 422
            assert deleted.status_code in (200, 204)
            assert patient_now.status_code == 410
        plans = (await client.get("/fhir/CarePlan", params={"subject": f"Patient/{patient['id']}"})).json()
        assert len(match_ids(plans)) == (1 if created.status_code == 201 else 0)

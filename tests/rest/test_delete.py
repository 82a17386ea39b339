"""delete (R4 http.html#delete) and the referential integrity this server enforces on it:
deleting what live resources still refer to is refused with 409, naming the referrers."""

from __future__ import annotations

import httpx

from tests.support import builders
from tests.support.api import create, history, match_ids, outcome


async def test_deleting_a_referenced_patient_is_409_naming_every_referrer(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    plan = await create(client, builders.care_plan(patient["id"]))
    goal = await create(client, builders.goal(patient["id"]))
    refused = outcome(await client.delete(f"/fhir/Patient/{patient['id']}"), 409)
    message = " ".join(issue["diagnostics"] for issue in refused["issue"])
    assert f"CarePlan/{plan['id']}" in message
    assert f"Goal/{goal['id']}" in message
    assert refused["issue"][0]["code"] == "conflict"
    # Nothing happened: the patient is readable, unversioned, and history has no deletion.
    assert (await client.get(f"/fhir/Patient/{patient['id']}")).json() == patient
    assert [e["request"]["method"] for e in await history(client, f"Patient/{patient['id']}/_history")] == ["POST"]


async def test_once_the_referrers_are_gone_the_delete_succeeds(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    plan = await create(client, builders.care_plan(patient["id"]))
    goal = await create(client, builders.goal(patient["id"]))
    assert (await client.delete(f"/fhir/CarePlan/{plan['id']}")).status_code == 204
    # A referrer that changes to point elsewhere no longer holds the patient either.
    other = await create(client, builders.patient())
    moved = dict(builders.goal(other["id"]), id=goal["id"])
    assert (await client.put(f"/fhir/Goal/{goal['id']}", json=moved)).status_code == 200
    assert (await client.delete(f"/fhir/Patient/{patient['id']}")).status_code == 204
    assert (await client.get(f"/fhir/Patient/{patient['id']}")).status_code == 410
    assert match_ids((await client.get("/fhir/Patient", params={"_id": patient["id"]})).json()) == []


async def test_a_reference_from_an_old_version_does_not_hold_a_resource(client: httpx.AsyncClient) -> None:
    practitioner = await create(client, builders.practitioner())
    patient = await create(
        client, dict(builders.patient(), generalPractitioner=[{"reference": f"Practitioner/{practitioner['id']}"}])
    )
    without = {k: v for k, v in patient.items() if k != "generalPractitioner"}
    assert (await client.put(f"/fhir/Patient/{patient['id']}", json=without)).status_code == 200
    assert (await client.delete(f"/fhir/Practitioner/{practitioner['id']}")).status_code == 204


async def test_delete_answers_with_the_version_it_wrote(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    response = await client.delete(f"/fhir/Patient/{patient['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["etag"] == 'W/"2"'
    gone = await client.get(f"/fhir/Patient/{patient['id']}")
    assert outcome(gone, 410)["issue"][0]["code"] == "deleted"
    again = await client.delete(f"/fhir/Patient/{patient['id']}")
    assert again.status_code in (200, 204)
    assert len(await history(client, f"Patient/{patient['id']}/_history")) == 2


async def test_vread_serves_each_version_with_its_own_headers(client: httpx.AsyncClient) -> None:
    created = await client.post("/fhir/Patient", json=builders.patient())
    patient = created.json()
    url = f"/fhir/Patient/{patient['id']}"
    updated = await client.put(url, json=dict(patient, gender="female"))
    first = await client.get(f"{url}/_history/1")
    second = await client.get(f"{url}/_history/2")
    assert first.headers["etag"] == 'W/"1"' and second.headers["etag"] == 'W/"2"'
    assert first.headers["last-modified"] == created.headers["last-modified"]
    assert second.headers["last-modified"] == updated.headers["last-modified"]
    assert first.json()["meta"]["versionId"] == "1" and first.json()["gender"] == "male"
    assert second.json() == updated.json()

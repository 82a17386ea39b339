"""create, read, vread, update and delete as a client sees them (R4 http.html)."""

from __future__ import annotations

import httpx

from tests.support import builders

FHIR_JSON = "application/fhir+json"


async def create(client: httpx.AsyncClient, resource: dict) -> dict:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_returns_201_with_location_etag_and_server_fields(client: httpx.AsyncClient) -> None:
    body = builders.patient()
    body["id"] = "client-chosen"  # R4: a create ignores any id the client sends
    response = await client.post("/fhir/Patient", json=body, headers={"Content-Type": FHIR_JSON})
    assert response.status_code == 201
    created = response.json()
    assert created["id"] != "client-chosen"
    assert created["meta"]["versionId"] == "1"
    assert created["meta"]["lastUpdated"].endswith("+00:00")
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"] == f"http://fhirbridge.test/fhir/Patient/{created['id']}/_history/1"
    assert response.headers["last-modified"].endswith("GMT")
    assert response.headers["content-type"].startswith(FHIR_JSON)


async def test_read_serves_the_stored_version_with_etag(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient(family="Öberg", given="Åsa"))
    response = await client.get(f"/fhir/Patient/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == 'W/"1"'
    assert "Åsa" in response.text


async def test_read_of_unknown_id_is_404_with_operation_outcome(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/Patient/does-not-exist")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "not-found"


async def test_update_increments_version_and_vread_returns_each(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    changed = dict(created, gender="female")
    response = await client.put(f"/fhir/Patient/{created['id']}", json=changed)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert response.headers["etag"] == 'W/"2"'
    first = await client.get(f"/fhir/Patient/{created['id']}/_history/1")
    second = await client.get(f"/fhir/Patient/{created['id']}/_history/2")
    assert first.json()["gender"] == "male"
    assert second.json()["gender"] == "female"
    assert (await client.get(f"/fhir/Patient/{created['id']}/_history/3")).status_code == 404


async def test_update_as_create_with_client_chosen_id(client: httpx.AsyncClient) -> None:
    body = dict(builders.patient(), id="pnr-191212121212")
    response = await client.put("/fhir/Patient/pnr-191212121212", json=body)
    assert response.status_code == 201
    assert response.json()["meta"]["versionId"] == "1"
    assert response.headers["location"].endswith("/Patient/pnr-191212121212/_history/1")


async def test_update_with_stale_if_match_is_412_and_changes_nothing(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    ok = await client.put(url, json=dict(created, gender="female"), headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = await client.put(url, json=dict(created, gender="other"), headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    current = (await client.get(url)).json()
    assert current["gender"] == "female" and current["meta"]["versionId"] == "2"


async def test_update_body_id_must_match_url(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    response = await client.put(f"/fhir/Patient/{created['id']}", json=dict(created, id="other"))
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Patient.id"]


async def test_identical_update_keeps_the_version(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    response = await client.put(f"/fhir/Patient/{created['id']}", json=created)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "1"


async def test_delete_then_read_is_410_and_history_keeps_everything(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    await client.put(url, json=dict(created, gender="female"))
    deleted = await client.delete(url)
    assert deleted.status_code == 204
    assert deleted.headers["etag"] == 'W/"3"'
    assert (await client.get(url)).status_code == 410
    search = (await client.get("/fhir/Patient", params={"_id": created["id"]})).json()
    assert search.get("entry", []) == []
    history = (await client.get(f"{url}/_history")).json()
    assert history["type"] == "history"
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "POST"]
    assert "resource" not in history["entry"][0]
    assert (await client.get(f"{url}/_history/2")).json()["gender"] == "female"
    assert (await client.get(f"{url}/_history/3")).status_code == 410


async def test_delete_of_unknown_resource_is_a_harmless_200(client: httpx.AsyncClient) -> None:
    response = await client.delete("/fhir/Patient/never-existed")
    assert response.status_code == 200
    assert response.json()["issue"][0]["severity"] == "information"


async def test_update_after_delete_brings_the_resource_back(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    await client.delete(url)
    response = await client.put(url, json=created)
    assert response.status_code == 201
    assert response.json()["meta"]["versionId"] == "3"
    assert (await client.get(url)).status_code == 200


async def test_prefer_return_minimal_and_operation_outcome(client: httpx.AsyncClient) -> None:
    minimal = await client.post("/fhir/Patient", json=builders.patient(), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201 and minimal.content == b""
    assert minimal.headers["location"]
    outcome = await client.post("/fhir/Patient", json=builders.patient(), headers={"Prefer": "return=OperationOutcome"})
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"


async def test_conditional_read_answers_304(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    response = await client.get(url, headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304
    assert (await client.get(url, headers={"If-None-Match": 'W/"0"'})).status_code == 200

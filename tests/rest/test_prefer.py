"""Prefer: return=minimal | representation | OperationOutcome (R4 http.html#prefer)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import builders
from tests.support.api import create, outcome


async def test_create_returns_the_stored_resource_by_default_and_on_request(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Prefer": "return=representation"}):
        response = await client.post("/fhir/Patient", json=builders.patient(), headers=headers)
        assert response.status_code == 201
        stored = (await client.get(f"/fhir/Patient/{response.json()['id']}")).json()
        assert response.json() == stored


@pytest.mark.parametrize("method", ["create", "update", "update-as-create"])
async def test_return_minimal_sends_headers_and_no_body(client: httpx.AsyncClient, method: str) -> None:
    prefer = {"Prefer": "return=minimal"}
    if method == "create":
        response = await client.post("/fhir/Patient", json=builders.patient(), headers=prefer)
        expected_status, version = 201, "1"
    elif method == "update":
        created = await create(client, builders.patient())
        url = f"/fhir/Patient/{created['id']}"
        response = await client.put(url, json=dict(created, gender="female"), headers=prefer)
        expected_status, version = 200, "2"
    else:
        body = dict(builders.patient(), id="pnr-191212121212")
        response = await client.put("/fhir/Patient/pnr-191212121212", json=body, headers=prefer)
        expected_status, version = 201, "1"
    assert response.status_code == expected_status
    assert response.content == b""
    assert response.headers["etag"] == f'W/"{version}"'
    assert response.headers["last-modified"].endswith("GMT")
    if expected_status == 201:
        assert response.headers["location"].endswith(f"/_history/{version}")


async def test_return_operation_outcome_describes_the_write(client: httpx.AsyncClient) -> None:
    prefer = {"Prefer": "return=OperationOutcome"}
    created = await client.post("/fhir/Patient", json=builders.patient(), headers=prefer)
    assert created.status_code == 201
    assert created.json()["resourceType"] == "OperationOutcome"
    assert created.json()["issue"][0]["severity"] == "information"
    location = created.headers["location"]
    resource_id = location.split("/Patient/")[1].split("/")[0]
    current = (await client.get(f"/fhir/Patient/{resource_id}")).json()
    updated = await client.put(f"/fhir/Patient/{resource_id}", json=dict(current, gender="female"), headers=prefer)
    assert updated.status_code == 200
    assert updated.json()["resourceType"] == "OperationOutcome"
    assert updated.headers["etag"] == 'W/"2"'


async def test_failures_return_an_operation_outcome_whatever_the_preference(client: httpx.AsyncClient) -> None:
    invalid = dict(builders.patient(), gender="okänt")
    for preference in ("minimal", "representation", "OperationOutcome"):
        response = await client.post("/fhir/Patient", json=invalid, headers={"Prefer": f"return={preference}"})
        outcome(response, 400)


async def test_an_unknown_preference_is_ignored(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient", json=builders.patient(), headers={"Prefer": "return=everything"})
    assert response.status_code == 201
    assert response.json()["resourceType"] == "Patient"

"""Bodies nested deeper than ``max_json_depth`` are a 400 OperationOutcome on every write path,
refused before anything recursive sees them, and change nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from tests.support import builders
from tests.support.api import network_client, outcome, system_history_mark

FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture
async def wire(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with network_client(app) as http:
        yield http


def deep_patient(levels: int, resource_id: str | None = None) -> bytes:
    """A Patient whose extension nests ``levels`` extensions deep: valid FHIR, only too deep."""
    extension: dict = {"url": "http://example.org/x", "valueString": "botten"}
    for _ in range(levels):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    patient = dict(builders.patient(), extension=[extension])
    if resource_id is not None:
        patient["id"] = resource_id
    return json.dumps(patient).encode()


def deep_arrays(levels: int) -> bytes:
    return b'{"resourceType": "Patient", "name": ' + b"[" * levels + b"]" * levels + b"}"


def in_transaction(resource: bytes) -> bytes:
    entry = b'{"request": {"method": "POST", "url": "Patient"}, "resource": ' + resource + b"}"
    return b'{"resourceType": "Bundle", "type": "transaction", "entry": [' + entry + b"]}"


def in_parameters(resource: bytes) -> bytes:
    return b'{"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": ' + resource + b"}]}"


@pytest.mark.parametrize("levels", [100, 5000])
async def test_deep_bodies_are_refused_everywhere_and_change_nothing(wire: httpx.AsyncClient, levels: int) -> None:
    stored = (await wire.post("/fhir/Patient", json=builders.patient())).json()
    before = await system_history_mark(wire)
    deep = deep_patient(levels) if levels < 900 else deep_arrays(levels)
    deep_with_id = deep_patient(levels, stored["id"]) if levels < 900 else deep
    attempts = {
        "create": wire.post("/fhir/Patient", content=deep, headers=FHIR_JSON),
        "update": wire.put(f"/fhir/Patient/{stored['id']}", content=deep_with_id, headers=FHIR_JSON),
        "conditional update": wire.put("/fhir/Patient?identifier=x", content=deep, headers=FHIR_JSON),
        "transaction": wire.post("/fhir", content=in_transaction(deep), headers=FHIR_JSON),
        "$validate": wire.post("/fhir/Patient/$validate", content=deep, headers=FHIR_JSON),
        "$validate Parameters": wire.post("/fhir/Patient/$validate", content=in_parameters(deep), headers=FHIR_JSON),
    }
    for name, pending in attempts.items():
        body = outcome(await pending, 400)
        assert body["issue"][0]["code"] == "too-costly", name
        assert "64 levels" in body["issue"][0]["diagnostics"], name
    assert await system_history_mark(wire) == before


async def test_a_deep_x_provenance_header_is_refused(wire: httpx.AsyncClient) -> None:
    before = await system_history_mark(wire)
    header = '{"resourceType": "Provenance", "agent": ' + "[" * 900 + "]" * 900 + "}"
    response = await wire.post("/fhir/Patient", json=builders.patient(), headers={"X-Provenance": header})
    assert outcome(response, 400)["issue"][0]["code"] == "too-costly"
    assert await system_history_mark(wire) == before


async def test_nesting_up_to_the_limit_is_accepted(wire: httpx.AsyncClient) -> None:
    # Patient > extension[] > 29 nested extensions, each an object and an array: 61 levels.
    response = await wire.post("/fhir/Patient", content=deep_patient(29), headers=FHIR_JSON)
    assert response.status_code == 201, response.text


async def test_the_limit_is_a_setting(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, auto_migrate=False, outbox_worker="off", max_json_depth=8, auth="off"
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application), network_client(application) as http:
        assert (await http.post("/fhir/Patient", content=deep_patient(2), headers=FHIR_JSON)).status_code == 201
        body = outcome(await http.post("/fhir/Patient", content=deep_patient(3), headers=FHIR_JSON), 400)
        assert "8 levels" in body["issue"][0]["diagnostics"]

"""What a FHIR client does again and again: write, follow links, read OperationOutcomes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from fhirbridge.identity import SYSTEM
from fhirbridge.repository import FhirRepository
from fhirbridge.storage.database import Database
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.unit_of_work import UnitOfWork

BASE = "http://fhirbridge.test"


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    """POST a resource and return what the server stored; anything but 201 fails the test."""
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OperationOutcome of an error response, after checking its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"], "an OperationOutcome has at least one issue"
    return body


def expressions(body: dict[str, Any]) -> list[str]:
    """Every ``issue.expression`` of an OperationOutcome, flattened."""
    return [expression for issue in body["issue"] for expression in issue.get("expression", [])]


def match_ids(bundle: dict[str, Any]) -> list[str]:
    """Ids of the ``match`` entries of a searchset, in order."""
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]


def outcome_entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The OperationOutcomes a searchset carries as ``outcome`` entries."""
    return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "outcome"]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((item["url"] for item in bundle.get("link", []) if item["relation"] == relation), None)


async def pages(client: httpx.AsyncClient, url: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every page of a search or history, following ``next`` links as a client would."""
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    found = [response.json()]
    while (following := link(found[-1], "next")) is not None:
        assert len(found) < 100, "the next links do not end"
        response = await client.get(following)
        assert response.status_code == 200, response.text
        found.append(response.json())
    return found


async def history(client: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, Any]]:
    """All entries of a history (``Patient/1/_history``, ``Patient/_history``, ``_history``)."""
    return [entry for page in await pages(client, f"/fhir/{path}", params) for entry in page.get("entry", [])]


def history_mark(bundle: dict[str, Any]) -> tuple[Any, ...]:
    """What a page of ``GET /fhir/_history?_count=1`` says about the database: how many versions
    it holds and the latest one.  Equal marks before and after a request: it wrote nothing."""
    entries = bundle.get("entry") or [None]
    return bundle.get("total"), json.dumps(entries[0], sort_keys=True)


async def system_history_mark(client: httpx.AsyncClient) -> tuple[Any, ...]:
    response = await client.get("/fhir/_history", params={"_count": "1"})
    assert response.status_code == 200, response.text
    return history_mark(response.json())


@asynccontextmanager
async def network_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sees a server fault as the 500 response a client on the network gets,
    instead of the exception the in-process transport would raise."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


async def patient_and_practitioner(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """A patient and Karin Lind, stored: the two ends of a message."""
    from tests.support import builders

    return await create(client, builders.patient()), await create(client, builders.practitioner())


async def write_as_before(database: Database, resource: dict[str, Any]) -> None:
    """Store a resource with an id as a version without this one's write rules could: no
    identity rule, no link rule (a bulk load, a link made by hand before the upgrade)."""

    async def work(unit: UnitOfWork) -> None:
        kind, resource_id = resource["resourceType"], resource["id"]
        await unit.update(validate_resource(dict(resource), kind, url_id=resource_id, local_base=None), resource_id)

    await FhirRepository(database).write(SYSTEM, None, work)

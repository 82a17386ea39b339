"""The request body limit: an oversized write is 413 before it is read, and changes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from fhirbridge.config import Settings
from tests.support import builders
from tests.support.api import history, outcome

LIMIT = 16 * 1024


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The shared fixture, with a body limit small enough to cross cheaply."""
    return Settings(
        database_url=database_url, auto_migrate=False, max_body_bytes=LIMIT, rate_limit_per_second=0, auth="off"
    )


def oversized_patient() -> bytes:
    body = dict(builders.patient(), name=[{"family": "Tolvansson", "given": ["Tolvan"] * (LIMIT // 8)}])
    encoded = json.dumps(body).encode()
    assert len(encoded) > LIMIT
    return encoded


async def chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_a_body_under_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    assert (await client.post("/fhir/Patient", json=builders.patient())).status_code == 201


async def test_a_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir/Patient", content=oversized_patient(), headers={"Content-Type": "application/fhir+json"}
    )
    outcome(response, 413)
    assert await history(client, "_history") == []


async def test_a_streamed_oversized_body_without_length_is_413(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/fhir/Patient/pnr-1", content=chunks(oversized_patient()), headers={"Content-Type": "application/fhir+json"}
    )
    outcome(response, 413)
    assert (await client.get("/fhir/Patient/pnr-1")).status_code == 404


async def test_an_oversized_search_form_is_413(client: httpx.AsyncClient) -> None:
    form = ("name=" + "a" * LIMIT).encode()
    response = await client.post(
        "/fhir/Patient/_search", content=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    outcome(response, 413)

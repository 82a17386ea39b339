"""A deployment with authentication on (tests/support/production.py) whose export files go to the
test's own folder, and what a Bulk Data client does: kick off, poll, download."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from tests.security.tokens import production_settings

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return tmp_path / "exports"


@pytest.fixture
def secure_settings(database_url: str, jwks_file: Path, export_dir: Path) -> Settings:
    return production_settings(database_url, jwks_file, export_dir=str(export_dir))


async def kick_off(
    client: httpx.AsyncClient, headers: dict[str, str], path: str = "/fhir/$export", **params: str
) -> str:
    """Kick an export off; the status URL (anything but a 202 fails the test)."""
    response = await client.get(path, params=params, headers={**ASYNC, **headers})
    assert response.status_code == 202, response.text
    location: str = response.headers["content-location"]
    return location


async def finished(client: httpx.AsyncClient, status_url: str, headers: dict[str, str]) -> dict[str, Any]:
    """Poll the status URL as a client would until the manifest comes; the manifest."""
    for _ in range(600):
        response = await client.get(status_url, headers=headers)
        if response.status_code == 200:
            assert response.headers["content-type"].startswith("application/json")
            manifest: dict[str, Any] = response.json()
            return manifest
        assert response.status_code == 202, response.text
        assert response.headers["x-progress"]
        assert int(response.headers["retry-after"]) > 0
        await asyncio.sleep(0.02)
    raise AssertionError("the export never finished")


async def download(client: httpx.AsyncClient, manifest: dict[str, Any], headers: dict[str, str]) -> dict[str, list]:
    """Every output file of a manifest, by type: the resources, one a line."""
    found: dict[str, list[dict[str, Any]]] = {}
    for output in manifest["output"]:
        response = await client.get(output["url"], headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert len(lines) == output["count"]
        assert all(line["resourceType"] == output["type"] for line in lines)
        found.setdefault(output["type"], []).extend(lines)
    return found


async def export(
    client: httpx.AsyncClient, headers: dict[str, str], path: str = "/fhir/$export", **params: str
) -> dict[str, list]:
    """Kick off, wait, download: the exported resources by type."""
    manifest = await finished(client, await kick_off(client, headers, path, **params), headers)
    return await download(client, manifest, headers)


def ids(found: dict[str, list], resource_type: str) -> set[str]:
    return {resource["id"] for resource in found.get(resource_type, [])}


async def stored_jobs(app: FastAPI) -> int:
    async with app.state.context.repository.database.reader() as conn:
        return int(await conn.fetchval("SELECT COUNT(*) FROM export_jobs"))

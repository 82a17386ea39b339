"""A patched resource is held to what a PUT's body is held to (its size and nesting), judged
before each JSON Patch operation is applied (R4 security.html: hostile input): ``copy`` doubles
what it copies into itself, and a copy of something deep recursed past Python's limit (a 500)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.config import Settings
from tests.support import builders
from tests.support.api import create, expressions, outcome, system_history_mark

JSON_PATCH = {"Content-Type": "application/json-patch+json"}
LIMIT = 64 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with a small body limit, which a patched result must keep too."""
    return settings.model_copy(update={"max_body_bytes": LIMIT})


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


async def test_copies_that_double_the_resource_stop_at_the_body_limit(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    doubling = [{"op": "copy", "from": "/name", "path": "/name/-"} for _ in range(12)]
    seed = [{"op": "replace", "path": "/name/0/family", "value": "S" * 2000}]
    before = await system_history_mark(client)
    # 2 KB doubled twelve times would be 8 MB (thirty times, 2 TB): refused where it passes the limit
    refused = outcome(await client.patch(url, json=seed + doubling, headers=JSON_PATCH), 413)
    assert refused["issue"][0]["code"] == "too-costly"
    (where,) = expressions(refused)
    assert where.startswith("JsonPatch[") and 1 < int(where[len("JsonPatch[") : -1]) < 12
    assert await system_history_mark(client) == before
    assert (await client.get(url)).json() == created


async def test_a_patch_cannot_nest_the_resource_deeper_than_a_body_may(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    operations: list[dict[str, Any]] = [{"op": "add", "path": "/x", "value": _nested(60)}]
    operations += [{"op": "add", "path": "/x" + "/a" * (59 * n), "value": _nested(60)} for n in range(1, 10)]
    operations.append({"op": "copy", "from": "/x", "path": "/y"})  # 600 levels: recursed past Python's limit
    before = await system_history_mark(client)
    refused = outcome(await client.patch(url, json=operations, headers=JSON_PATCH), 400)
    assert refused["issue"][0]["code"] == "too-costly"
    assert expressions(refused) == ["JsonPatch[1]"]
    assert await system_history_mark(client) == before


async def test_a_patch_within_the_limits_is_written(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    url = f"/fhir/Patient/{created['id']}"
    grown = [{"op": "copy", "from": "/name/0", "path": "/name/-"} for _ in range(3)]
    response = await client.patch(url, json=grown, headers=JSON_PATCH)
    assert response.status_code == 200, response.text
    assert len(response.json()["name"]) == 4

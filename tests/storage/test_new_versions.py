"""Many new resources in one statement per table (the access log's batches, issue 12) are
stored exactly as they would be one at a time: the same rows in every table, history in the
order given, keys that keep growing."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fhirbridge.search.index import extract_index
from fhirbridge.storage import versions
from fhirbridge.storage.database import Connection, Database, WriteRace
from fhirbridge.storage.records import StoredResource
from fhirbridge.storage.schema import INDEXED
from fhirbridge.storage.version_rows import NewVersion
from fhirbridge.storage.versions_sqlite import PIECE
from fhirbridge.writes.canonical import canonical_bytes, with_server_fields
from tests.support import builders
from tests.support.databases import opened

NOW = 1_780_000_000_000_000


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with opened(database_url) as database:
        yield database


def resources() -> list[dict[str, Any]]:
    """Something for every index table and links: names, identifiers, dates, references, uris."""
    return [
        builders.patient("191212121212"),
        builders.care_plan("p1", period={"start": "2026-03-01"}),
        builders.measure(),
        {"resourceType": "Basic", "code": {"text": "nothing indexed but this"}},
        builders.practitioner(),
    ]


def new_version(resource: dict[str, Any], resource_id: str) -> NewVersion:
    kind = resource["resourceType"]
    content = canonical_bytes(with_server_fields(resource, resource_id, 1, NOW))
    links = [("CarePlan.subject", "Patient", "p1")] if kind == "CarePlan" else []
    return NewVersion(StoredResource(kind, resource_id, 1, NOW, False, content), extract_index(kind, resource), links)


async def stored_rows(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row written, each naming its resource by id instead of key, in a stable order."""
    found = {
        "resources": await conn.fetch(
            "SELECT res_type, res_id, version, last_updated, deleted, content FROM resources ORDER BY pk"
        ),
        "resource_versions": await conn.fetch(
            "SELECT res_type, res_id, version, last_updated, method, content FROM resource_versions ORDER BY seq"
        ),
    }
    for table in INDEXED:
        values = ", ".join(f"t.{column.name}" for column in table.columns if column.name != "res_pk")
        found[table.name] = sorted(
            await conn.fetch(f"SELECT r.res_id, {values} FROM {table.name} t JOIN resources r ON r.pk = t.res_pk"),
            key=repr,
        )
    return {
        name: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]
        for name, rows in found.items()
    }


class RolledBack(Exception):
    pass


async def written(database: Database, one_at_a_time: bool) -> dict[str, list[tuple[Any, ...]]]:
    """The rows the resources leave, written one at a time or all at once (and rolled back)."""
    batch = [new_version(resource, f"r{n}") for n, resource in enumerate(resources())]
    try:
        async with database.transaction() as conn:
            if one_at_a_time:
                for record, rows, links in batch:
                    await versions.save_version(conn, record, previous_pk=None, method="POST", rows=rows, links=links)
            else:
                await versions.save_new(conn, batch, "POST")
            found = await stored_rows(conn)
            raise RolledBack
    except RolledBack:
        pass
    return found


async def test_many_new_resources_leave_the_rows_they_leave_one_at_a_time(database: Database) -> None:
    one_by_one = await written(database, one_at_a_time=True)
    assert all(one_by_one[table.name] for table in INDEXED)  # every table is exercised
    assert await written(database, one_at_a_time=False) == one_by_one


async def test_keys_follow_the_order_given_and_keep_growing(database: Database, database_url: str) -> None:
    before, after = new_version(builders.patient(), "before"), new_version(builders.patient(), "after")
    async with database.transaction() as conn:
        assert await versions.save_new(conn, [], "POST") == []
        first = await versions.save_version(
            conn, before.record, previous_pk=None, method="POST", rows=before.rows, links=[]
        )
        batch = [new_version(builders.patient(), f"many-{n}") for n in range(30)]
        pauses = 0

        async def pause() -> None:
            nonlocal pauses
            pauses += 1

        keys = await versions.save_new(conn, batch, "POST", pause)
        last = await versions.save_version(
            conn, after.record, previous_pk=None, method="POST", rows=after.rows, links=[]
        )
        rows = await conn.fetch("SELECT pk, res_id FROM resources WHERE res_id LIKE 'many-%' ORDER BY pk")
        history = await conn.fetch("SELECT res_id FROM resource_versions ORDER BY seq")
    assert first < keys[0] and keys == sorted(keys) and keys[-1] < last
    assert [(pk, res_id) for pk, res_id in rows] == [(pk, f"many-{n}") for n, pk in enumerate(keys)]
    assert [row[0] for row in history] == ["before", *(f"many-{n}" for n in range(30)), "after"]
    # SQLite writes on the event loop, and pauses between pieces; PostgreSQL's round trip never holds it
    assert len(batch) > PIECE
    assert pauses == (math.ceil(len(batch) / PIECE) - 1 if database_url.startswith("sqlite") else 0)


async def test_an_id_taken_is_a_write_race_and_nothing_of_the_batch_stays(database: Database) -> None:
    async with database.transaction() as conn:
        await versions.save_new(conn, [new_version(builders.patient(), "taken")], "POST")

    async def write_again() -> None:
        async with database.transaction() as conn:
            batch = [new_version(builders.patient(), resource_id) for resource_id in ("free", "taken")]
            await versions.save_new(conn, batch, "POST")

    with pytest.raises(WriteRace):
        await write_again()
    async with database.reader() as conn:
        assert [row[0] for row in await conn.fetch("SELECT res_id FROM resources")] == ["taken"]

"""``fhirbridge reindex`` (maintenance/reindex.py) on both databases: the index it computes is
the one the write path wrote; resources indexed before their parameters existed are found
after it; an interrupted run is continued by the next, which does only what was left."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.maintenance.reindex import position, reindex
from fhirbridge.storage.database import Database
from tests.support import builders
from tests.support.api import create, match_ids

TABLES = ("idx_token", "idx_string", "idx_date", "idx_reference", "idx_uri")


async def _index(database: Database) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    async with database.reader() as conn:
        for table in TABLES:
            rows += [(table, *(str(v) for v in row)) for row in await conn.fetch(f"SELECT * FROM {table}")]
    return sorted(rows)  # type: ignore[type-var]


class Interrupted(Exception):
    pass


async def test_an_interrupted_reindex_is_continued_and_rebuilds_the_index_the_writes_made(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    database: Database = app.state.context.repository.database
    patients = [await create(client, builders.patient(family=f"Omindex{n}")) for n in range(5)]
    for patient in patients[:2]:
        await create(client, builders.goal(patient["id"], "Gå till affären"))
    written = await _index(database)
    async with database.transaction() as conn:  # as if written before the parameters existed
        for table in TABLES:
            await conn.execute(f"DELETE FROM {table} WHERE res_type IN ('Patient', 'Goal')")
    found = await client.get("/fhir/Patient", params={"family": "Omindex0"})
    assert match_ids(found.json()) == []

    batches: list[int] = []

    def stop_after_two(count: int) -> None:
        batches.append(count)
        if len(batches) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        await reindex(database, batch=3, progress=stop_after_two)
    stopped_at = await position(database)
    assert stopped_at > 0
    second = await reindex(database, batch=3)
    assert second.resumed_after == stopped_at
    async with database.reader() as conn:
        live = int(await conn.fetchval("SELECT COUNT(*) FROM resources WHERE NOT deleted"))
    assert second.resources == live - 6  # what the first run committed is not done again
    assert await position(database) == 0  # a finished run leaves no mark
    assert await _index(database) == written
    for patient in patients:
        family = patient["name"][0]["family"]
        answer = await client.get("/fhir/Patient", params={"family": family})
        assert match_ids(answer.json()) == [patient["id"]]
    again = await reindex(database)
    assert (again.resumed_after, again.resources) == (0, live)
    assert await _index(database) == written

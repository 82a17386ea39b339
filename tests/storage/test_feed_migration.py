"""Migration 0012 gives every stored version its place in the change feed: the versions stored
before it come first, in the order they were written, then everything written after; on
PostgreSQL every insert gets its transaction's id, also from a writer that does not name it."""

from __future__ import annotations

import asyncio

from fhirbridge.storage import feed
from fhirbridge.storage.migrations import upgrade
from tests.support import builders
from tests.support.api import write_as_before
from tests.support.databases import opened

BEFORE = "0011"


async def test_versions_stored_before_the_migration_come_first_in_the_order_written(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    patients = [dict(builders.patient(), id=f"before-{n}") for n in range(3)]
    async with opened(empty_url) as database:  # the service as it was: no txid column
        for patient in patients:
            await write_as_before(database, patient)
        await write_as_before(database, dict(patients[0], gender="other"))
    await asyncio.to_thread(upgrade, empty_url)
    async with opened(empty_url) as database:
        await write_as_before(database, dict(builders.patient(), id="after"))
        await write_as_before(database, dict(patients[1], gender="other"))
        async with database.reader() as conn:
            rows = await feed.history(
                conn, resource_type=None, resource_id=None, since=None, past=None, oldest_first=True, limit=100
            )
    assert [(row.resource_id, row.version) for row in rows] == [
        ("before-0", 1),
        ("before-1", 1),
        ("before-2", 1),
        ("before-0", 2),
        ("after", 1),
        ("before-1", 2),
    ]
    assert {row.txid for row in rows[:4]} == {0}
    if empty_url.startswith("postgresql"):
        assert 0 < rows[4].txid < rows[5].txid


async def test_on_postgresql_an_insert_that_names_no_place_gets_its_transactions(postgres_url: str) -> None:
    """A writer of the previous release (a rolling upgrade) or a bulk load does not know the
    column: the trigger gives its rows the place the feed needs."""
    async with opened(postgres_url) as database, database.transaction() as conn:
        await conn.execute(
            "INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content) "
            "VALUES ('Patient', 'old-writer', 1, 0, 'POST', NULL)"
        )
        await conn.execute(
            "INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content, txid) "
            "VALUES ('Patient', 'old-writer', 2, 0, 'PUT', NULL, 0)"
        )
        row = await conn.fetchrow(
            "SELECT min(txid), max(txid), pg_current_xact_id()::text::bigint FROM resource_versions "
            "WHERE res_id = 'old-writer'"
        )
        assert row is not None
        assert row[0] == row[1] == row[2]
        await conn.execute("DELETE FROM resource_versions WHERE res_id = 'old-writer'")

"""SQLite's group commit: writes queued together share one commit, and each still stands alone.

What a writer observes: once its ``transaction()`` block has returned, its rows are there for
every other connection; a write that fails changed nothing, whatever the writes around it
did; a commit that fails fails every write it held, and none of them is seen; a write that
gives up waiting for its turn leaves no one else waiting.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fhirbridge.storage import sqlite as sqlite_engine
from fhirbridge.storage.sqlite import SqliteDatabase


@pytest.fixture
async def database(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    path = tmp_path / "batched.db"
    shutil.copy(sqlite_template, path)
    opened = SqliteDatabase(path)
    try:
        yield opened
    finally:
        await opened.close()


INSERT = "INSERT INTO search_snapshots (snapshot_id, res_type, created, total) VALUES ($1, 'X', 1, 0)"


async def _stored(database: SqliteDatabase) -> set[str]:
    async with database.reader() as conn:
        return {row[0] for row in await conn.fetch("SELECT snapshot_id FROM search_snapshots")}


async def test_every_write_is_seen_by_other_connections_once_it_returns(database: SqliteDatabase) -> None:
    seen_on_return: dict[str, bool] = {}

    async def write(name: str) -> None:
        async with database.transaction() as conn:
            await conn.execute(INSERT, name)
        seen_on_return[name] = name in await _stored(database)

    names = [f"w{n}" for n in range(40)]
    await asyncio.gather(*(write(name) for name in names))
    assert seen_on_return == dict.fromkeys(names, True)


async def test_a_failed_write_among_others_changes_nothing_and_the_others_stand(database: SqliteDatabase) -> None:
    async def write(name: str, fail: bool) -> str:
        async with database.transaction() as conn:
            await conn.execute(INSERT, name)
            if fail:
                raise ValueError(name)
        return name

    outcomes = await asyncio.gather(*(write(f"w{n}", n % 3 == 1) for n in range(30)), return_exceptions=True)
    failed = {str(o) for o in outcomes if isinstance(o, ValueError)}
    assert failed == {f"w{n}" for n in range(30) if n % 3 == 1}
    assert await _stored(database) == {f"w{n}" for n in range(30) if n % 3 != 1}


async def test_a_commit_that_fails_fails_every_write_it_held(database: SqliteDatabase) -> None:
    """A deferred foreign key is checked at COMMIT: one write that breaks it makes the commit
    fail, and every write that shared that commit is told so and is not stored."""
    async with database.transaction() as conn:
        await conn.execute(
            "CREATE TABLE checked_late (res_pk INTEGER REFERENCES resources (pk) DEFERRABLE INITIALLY DEFERRED)"
        )

    async def write(name: str, breaks_the_key: bool) -> str:
        async with database.transaction() as conn:
            await conn.execute(INSERT, name)
            if breaks_the_key:
                await conn.execute("INSERT INTO checked_late (res_pk) VALUES (-1)")
        return name

    outcomes = await asyncio.gather(*(write(f"w{n}", n == 5) for n in range(10)), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    stored = await _stored(database)
    # Whatever shared the failing commit failed with it and is absent; whatever returned is stored.
    assert errors, "the broken key passed its commit"
    assert all("FOREIGN KEY" in str(e) for e in errors)
    assert stored == {o for o in outcomes if isinstance(o, str)}
    assert "w5" not in stored
    async with database.transaction() as conn:  # the writer connection is usable again
        await conn.execute(INSERT, "after")
    assert "after" in await _stored(database)


async def test_a_write_that_gives_up_waiting_leaves_no_one_waiting(database: SqliteDatabase) -> None:
    first_done = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with database.transaction() as conn:
            await conn.execute(INSERT, "first")
            first_done.set()
            await release_first.wait()

    async def second() -> None:
        async with database.transaction() as conn:
            await conn.execute(INSERT, "second")

    holder = asyncio.create_task(first())
    await first_done.wait()
    waiter = asyncio.create_task(second())  # queued behind the first: the first's batch stays open for it
    await asyncio.sleep(0)
    release_first.set()
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.wait_for(holder, timeout=5)
    assert "first" in await _stored(database)
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_the_wal_starts_afresh_under_steady_writes(
    database: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints copy the WAL into the database while writes go on; unless the last of it is
    copied at a moment when no write runs, the WAL is never started afresh and grows by all
    that is written (the file would hold every write since the service started).

    The writes go on until the WAL has started afresh several times and holds under a quarter
    of what was written, or until 600 MB are written: on a busy machine one round of checkpoints takes
    longer, and the writes outlast it, instead of the test's verdict hanging on the timing."""
    monkeypatch.setattr(sqlite_engine, "CHECKPOINT_INTERVAL_S", 0.05)
    async with database.transaction() as conn:
        await conn.execute("CREATE TABLE filler (content BLOB)")
    wal = database.path.with_name(database.path.name + "-wal")
    loop = asyncio.get_running_loop()
    started = loop.time()
    written = 0
    salts: set[bytes] = set()  # a WAL started afresh gets a new salt in its header (sqlite.org/fileformat.html)

    def shown() -> bool:
        with wal.open("rb") as header:
            salts.add(header.read(24)[16:24])
        return written > 20_000_000 and len(salts) > 3 and wal.stat().st_size < written / 4

    async def writer() -> None:
        nonlocal written
        while written < 600_000_000 and not (loop.time() - started > 1.0 and shown()):
            async with database.transaction() as conn:
                await conn.execute("INSERT INTO filler (content) VALUES (randomblob(8192))")
            written += 8192

    await asyncio.gather(*(writer() for _ in range(4)))
    assert written > 20_000_000, "too few writes to tell"
    assert len(salts) > 3, "the WAL was never started afresh"
    assert wal.stat().st_size < written / 4


async def test_a_finished_write_is_not_held_by_a_long_write_queued_behind_it(database: SqliteDatabase) -> None:
    """A heavy write (one that may take long: a search snapshot, a report's freeze) commits the
    writes before it first, instead of holding them unanswered for as long as it runs."""
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c"
    loop = asyncio.get_running_loop()
    started = loop.time()
    returned: dict[str, float] = {}
    in_turn = asyncio.Event()

    async def quick() -> None:
        async with database.transaction() as conn:
            await conn.execute(INSERT, "quick")
            in_turn.set()
            await asyncio.sleep(0)  # the long write queues behind this one
        returned["quick"] = loop.time() - started

    async def long() -> None:
        await in_turn.wait()
        async with database.transaction(heavy=True) as conn:
            await conn.fetchval(slow)
        returned["long"] = loop.time() - started

    await asyncio.gather(quick(), long())
    assert returned["long"] > 0.2, "the long write was not long enough to tell"
    assert returned["quick"] < returned["long"] / 2

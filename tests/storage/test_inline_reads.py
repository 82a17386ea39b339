"""SQLite reads run on the event loop's own thread only while they are short: one that reads
longer (a "selective" search that meets a patient's hundred thousand access log entries) is
stopped after :data:`~fhirbridge.storage.sqlite.INLINE_STEPS` and run again on a worker
thread, so that it does not hold up every other request (review 20).  On PostgreSQL every
read waits on the network anyway: the same test holds there too."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from fhirbridge.storage.sqlite import SqliteDatabase
from tests.support.databases import opened

SLOW = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1) "
    "SELECT CAST(count(*) AS BIGINT) FROM n"
)
ROWS = 2_000_000


async def _ticking(work: asyncio.Future[int]) -> float:
    """The longest the event loop went without running a 1 ms timer while ``work`` ran."""
    longest, last = 0.0, time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return longest


async def test_a_long_read_does_not_hold_up_the_event_loop(database_url: str) -> None:
    async with opened(database_url) as database:

        async def read(snapshot: bool) -> int:
            async with database.reader(snapshot=snapshot) as conn:  # a point read's reader: inline on SQLite
                return int(await conn.fetchval(SLOW, ROWS))

        for snapshot in (False, True):
            started = time.perf_counter()
            work = asyncio.ensure_future(read(snapshot))
            held = await _ticking(work)
            took = time.perf_counter() - started
            assert await work == ROWS  # the answer is the whole answer, run again where it ran
            assert took > 0.1, took  # long enough to tell
            assert held < took / 3, (held, took)
        async with database.reader() as conn:  # short reads stay inline and right
            assert await conn.fetchval("SELECT 1") == 1


SHORT = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20) SELECT count(*) FROM n"


async def test_a_short_read_run_thousands_of_times_is_never_stopped(sqlite_template: Path, tmp_path: Path) -> None:
    """SQLite counts a statement's steps over all its runs: a handler that stopped a read at the
    first call after :data:`~fhirbridge.storage.sqlite.INLINE_STEPS` stopped a short read once in
    every few thousand runs, and the stopped statement stayed busy in the connection's cache,
    so that every later run of it was prepared again."""
    path = tmp_path / "short.db"
    shutil.copy(sqlite_template, path)
    database = SqliteDatabase(path)
    try:
        for _ in range(5_000):  # some 800,000 steps in all
            async with database.reader() as conn:
                assert await conn.fetchval(SHORT) == 20
                assert not conn.interrupted
        async with database.reader() as conn:  # a long one still is
            assert await conn.fetchval(SLOW, ROWS) == ROWS
            assert conn.interrupted
    finally:
        await database.close()

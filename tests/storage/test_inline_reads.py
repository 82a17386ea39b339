"""SQLite reads run on the event loop's own thread only while they are short: one that reads
longer (a "selective" search that meets a patient's hundred thousand access log entries) is
stopped after :data:`~fhirbridge.storage.sqlite.INLINE_STEPS` and run again on a worker
thread, so that it does not hold up every other request (review 20).  On PostgreSQL every
read waits on the network anyway: the same test holds there too."""

from __future__ import annotations

import asyncio
import time

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

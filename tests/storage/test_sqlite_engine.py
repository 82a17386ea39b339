"""The embedded engine: two processes' worth of writers on one file, and checkpoints."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from fhirbridge.storage.sqlite import SqliteDatabase


async def test_a_second_writer_waits_for_the_first_instead_of_failing(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    shutil.copy(sqlite_template, path)
    first, second = SqliteDatabase(path), SqliteDatabase(path)  # as two app processes would open it
    order: list[str] = []
    try:
        holding = asyncio.Event()

        async def slow_writer() -> None:
            async with first.transaction() as conn:
                await conn.execute(
                    "INSERT INTO search_snapshots (snapshot_id, res_type, created, total) VALUES ('a', 'X', 1, 0)"
                )
                holding.set()
                await asyncio.sleep(0.3)  # the event loop stays free while the lock is held
                order.append("first committed")

        async def second_writer() -> None:
            await holding.wait()
            async with second.transaction() as conn:
                order.append("second began")
                await conn.execute(
                    "INSERT INTO search_snapshots (snapshot_id, res_type, created, total) VALUES ('b', 'X', 1, 0)"
                )

        async def ticker() -> int:
            ticks = 0
            while len(order) < 2:
                await asyncio.sleep(0.01)
                ticks += 1
            return ticks

        _, _, ticks = await asyncio.gather(slow_writer(), second_writer(), ticker())
        assert order == ["first committed", "second began"]
        assert ticks > 10, "the event loop was blocked while the second writer waited"
        async with first.reader() as conn:
            assert await conn.fetchval("SELECT COUNT(*) FROM search_snapshots") == 2
    finally:
        await first.close()
        await second.close()


async def test_checkpoint_moves_the_wal_into_the_database(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    shutil.copy(sqlite_template, path)
    database = SqliteDatabase(path)
    try:
        async with database.transaction() as conn:
            for n in range(200):
                await conn.execute(
                    "INSERT INTO search_snapshots (snapshot_id, res_type, created, total) VALUES ($1, 'X', 1, 0)",
                    f"s{n}",
                )
        assert Path(f"{path}-wal").stat().st_size > 0  # noqa: ASYNC240 - a test looking at the file
        await database.checkpoint()
        # The database file alone, without its WAL, now holds the rows.
        alone = tmp_path / "alone.db"
        shutil.copy(path, alone)
        raw = sqlite3.connect(alone)
        try:
            assert raw.execute("SELECT COUNT(*) FROM search_snapshots").fetchone()[0] == 200
        finally:
            raw.close()
    finally:
        await database.close()

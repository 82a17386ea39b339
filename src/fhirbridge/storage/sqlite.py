"""The embedded SQLite engine: the standard library driver on worker threads.

One writer connection on its own thread takes ``BEGIN IMMEDIATE`` transactions, so writers
are serialised (also across processes, through SQLite's own lock); a small pool of read-only
connections serves reads in parallel under WAL.  Driver calls run on threads so that the
event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from fhirbridge.storage.database import SQLITE, Row, WriteRace

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\$(\d+)")
_translated: dict[str, str] = {}
BUSY_TIMEOUT_MS = 30_000


def _translate(sql: str) -> str:
    found = _translated.get(sql)
    if found is None:
        found = _translated[sql] = _PLACEHOLDER.sub(r"?\1", sql)
    return found


def _params(args: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(json.dumps(list(a)) if isinstance(a, list | tuple | set | frozenset) else a for a in args)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("PRAGMA synchronous = NORMAL")
    raw.execute("PRAGMA temp_store = MEMORY")
    raw.execute("PRAGMA cache_size = -65536")
    raw.execute("PRAGMA case_sensitive_like = ON")  # LIKE as in PostgreSQL
    if read_only:
        raw.execute("PRAGMA query_only = ON")
    else:
        raw.execute("PRAGMA journal_mode = WAL")
    return raw


class SqliteConnection:
    """A connection whose statements run on the engine's threads."""

    dialect = SQLITE

    def __init__(self, raw: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._raw = raw
        self._executor = executor

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def _execute(self, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._raw.execute(_translate(sql), _params(args))
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise WriteRace(str(exc)) from exc
            raise

    def _fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return self._execute(sql, args).fetchall()

    def _fetchrow(self, sql: str, args: Sequence[Any]) -> Row | None:
        row: Row | None = self._execute(sql, args).fetchone()
        return row

    def _executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        try:
            self._raw.executemany(_translate(sql), [_params(r) for r in rows])
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise WriteRace(str(exc)) from exc
            raise

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._run(self._fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._run(self._fetchrow, sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._run(self._execute, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if batch:
            await self._run(self._executemany, sql, batch)

    async def advisory_lock(self, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already serialises every writer."""

    def run_script(self, sql: str) -> None:
        self._raw.execute(sql)


class SqliteDatabase:
    """An SQLite file opened for the service."""

    dialect = SQLITE

    def __init__(self, path: Path, *, read_threads: int = 4) -> None:
        self.path = path
        self._writer = connect(path)
        self._write_executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._read_executor = ThreadPoolExecutor(read_threads, thread_name_prefix="sqlite-reader")
        self._readers: list[sqlite3.Connection] = []
        self._write_lock: asyncio.Lock | None = None

    @asynccontextmanager
    async def reader(self, *, snapshot: bool = False) -> AsyncIterator[SqliteConnection]:
        raw = self._readers.pop() if self._readers else connect(self.path, read_only=True)
        connection = SqliteConnection(raw, self._read_executor)
        try:
            if snapshot:
                await connection._run(raw.execute, "BEGIN")
                try:
                    yield connection
                finally:
                    await connection._run(raw.execute, "COMMIT")
            else:
                yield connection
        finally:
            self._readers.append(raw)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteConnection]:
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        async with self._write_lock:
            connection = SqliteConnection(self._writer, self._write_executor)
            await connection._run(self._writer.execute, "BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                await connection._run(self._writer.execute, "ROLLBACK")
                raise
            await connection._run(self._writer.execute, "COMMIT")

    async def close(self) -> None:
        def close_all() -> None:
            for raw in self._readers:
                raw.close()
            self._readers.clear()

        await asyncio.get_running_loop().run_in_executor(self._read_executor, close_all)
        await asyncio.get_running_loop().run_in_executor(self._write_executor, self._writer.close)
        self._read_executor.shutdown(wait=True)
        self._write_executor.shutdown(wait=True)

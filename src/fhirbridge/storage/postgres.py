"""The PostgreSQL engine: an asyncpg connection pool.

Several stateless app instances can share one database: writers meet in row locks
(``FOR UPDATE``), advisory transaction locks (conditional interactions) and unique keys,
and a lost race surfaces as :class:`WriteRace` so that the write path runs again.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg

from fhirbridge.errors import FhirError, Issue
from fhirbridge.storage.database import POSTGRESQL, Row, WriteRace
from fhirbridge.storage.faults import FaultWatch
from fhirbridge.storage.versions_postgres import PostgresVersions

_TIMEOUT = asyncpg.QueryCanceledError


def _timed_out() -> FhirError:
    return FhirError(
        503,
        [Issue("error", "timeout", "The database took too long; narrow the search or try again later")],
        {"Retry-After": "5"},
    )


_RACES = (
    asyncpg.UniqueViolationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)


def advisory_key(key: str) -> int:
    """A stable signed 64-bit number for a lock name."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Return connections to the pool as they are.  asyncpg's default reset (unlock advisory
    locks, close cursors, unlisten, reset settings) costs a round trip per request, and we
    leave nothing behind: advisory locks are transaction-scoped, cursors and LISTEN unused."""


class PostgresConnection:
    dialect = POSTGRESQL

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw
        self.versions = PostgresVersions(self)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return list(await self._raw.fetch(sql, *args))
        except _RACES as exc:
            raise WriteRace(str(exc)) from exc
        except _TIMEOUT:
            raise _timed_out() from None

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            row: Row | None = await self._raw.fetchrow(sql, *args)
        except _RACES as exc:
            raise WriteRace(str(exc)) from exc
        except _TIMEOUT:
            raise _timed_out() from None
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await self._raw.fetchval(sql, *args)
        except _RACES as exc:
            raise WriteRace(str(exc)) from exc
        except _TIMEOUT:
            raise _timed_out() from None

    async def execute(self, sql: str, *args: Any) -> None:
        try:
            await self._raw.execute(sql, *args)
        except _RACES as exc:
            raise WriteRace(str(exc)) from exc
        except _TIMEOUT:
            raise _timed_out() from None

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if not batch:
            return
        try:
            await self._raw.executemany(sql, batch)
        except _RACES as exc:
            raise WriteRace(str(exc)) from exc
        except _TIMEOUT:
            raise _timed_out() from None

    async def advisory_lock(self, key: str) -> None:
        await self.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(key))


class PostgresDatabase:
    dialect = POSTGRESQL

    def __init__(self, pool: asyncpg.Pool, name: str = "postgresql") -> None:
        self._pool = pool
        self.faults = FaultWatch(name)

    @classmethod
    async def open(
        cls, dsn: str, *, pool_size: int, statement_timeout_ms: int = 30_000, name: str = "postgresql"
    ) -> PostgresDatabase:
        # No floor of open connections: asyncpg would keep restoring it while the server is
        # away, with a traceback in the log each time; connections are made as requests need them.
        pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=pool_size,
            server_settings={"statement_timeout": str(statement_timeout_ms), "application_name": "fhirbridge"},
            reset=_keep_session,
        )
        return cls(pool, name)

    def _watching(self) -> AbstractAsyncContextManager[None]:
        """A transient fault is 503 (logged once), and the pool's other connections are
        replaced before their next use (a restarted server has closed them all; each would
        otherwise fail one more request)."""
        return self.faults.watching(self._pool.expire_connections)

    @asynccontextmanager
    async def reader(self, *, snapshot: bool = False, heavy: bool = False) -> AsyncIterator[PostgresConnection]:
        async with self._watching(), self._pool.acquire() as raw:
            if snapshot:
                async with raw.transaction(isolation="repeatable_read", readonly=True):
                    yield PostgresConnection(raw)
            else:
                yield PostgresConnection(raw)

    @asynccontextmanager
    async def transaction(self, *, heavy: bool = False, at_once: bool = False) -> AsyncIterator[PostgresConnection]:
        """A write transaction; a fault that ends it before the commit is confirmed is 503
        (the commit may or may not have happened: the client is told to try again)."""
        async with self._watching(), self._pool.acquire() as raw, raw.transaction():
            yield PostgresConnection(raw)

    def pool_use(self) -> tuple[int, int] | None:
        """asyncpg's pool: connections open, less the idle ones, are in use."""
        size = self._pool.get_size()
        return size - self._pool.get_idle_size(), size

    async def close(self) -> None:
        await self._pool.close()

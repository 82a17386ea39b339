"""The FHIR-shaped storage interface: read, vread, history, search, and the write path.

Every method takes the :class:`~fhirbridge.identity.Identity` of the caller.  Today all
identities see everything; authorisation (SMART scopes, consent, blocking) will filter here,
in one place, for every route that reads (issue 6).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fhirbridge.errors import conflict
from fhirbridge.fhir.instants import now_us
from fhirbridge.identity import Identity
from fhirbridge.search.query import SearchQuery
from fhirbridge.search.sql import compile_count, compile_search
from fhirbridge.storage import store
from fhirbridge.storage.database import Database, WriteRace
from fhirbridge.storage.records import HistoryEntry, StoredResource
from fhirbridge.writes.events import WriteListener
from fhirbridge.writes.unit_of_work import UnitOfWork

T = TypeVar("T")
log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: the matches, the cursor of the next page, and the total if known."""

    matches: list[StoredResource]
    next_cursor: int | None
    total: int | None


class FhirRepository:
    def __init__(self, database: Database, listeners: tuple[WriteListener, ...] = ()) -> None:
        self.database = database
        self.listeners = listeners

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        async with self.database.reader() as conn:
            await conn.fetchval("SELECT 1")

    async def read(self, identity: Identity, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version, deleted or not (R4 http.html#read)."""
        async with self.database.reader() as conn:
            return await store.read_current(conn, resource_type, resource_id)

    async def vread(
        self, identity: Identity, resource_type: str, resource_id: str, version: int
    ) -> StoredResource | None:
        async with self.database.reader() as conn:
            return await store.read_version(conn, resource_type, resource_id, version)

    async def history(
        self,
        identity: Identity,
        *,
        resource_type: str | None,
        resource_id: str | None,
        since: int | None,
        before_seq: int | None,
        limit: int,
    ) -> list[HistoryEntry]:
        async with self.database.reader() as conn:
            return await store.history(
                conn,
                resource_type=resource_type,
                resource_id=resource_id,
                since=since,
                before_seq=before_seq,
                limit=limit,
            )

    async def search(self, identity: Identity, query: SearchQuery, local_base: str | None) -> SearchPage:
        """One page of matches in key order; the total when asked for or when it is this page."""
        async with self.database.reader(snapshot=query.total == "accurate") as conn:
            sql, args = compile_search(query, conn.dialect, local_base, limit=query.count + 1)
            rows = await conn.fetch(sql, *args)
            total = None
            if query.total == "accurate":
                count_sql, count_args = compile_count(query, conn.dialect, local_base)
                total = int(await conn.fetchval(count_sql, *count_args))
        matches = [
            StoredResource(query.resource_type, row[1], row[2], row[3], False, row[4], pk=row[0])
            for row in rows[: query.count]
        ]
        more = len(rows) > query.count
        if total is None and not more and query.cursor is None:
            total = len(matches)
        next_cursor = matches[-1].pk if more and matches else None
        return SearchPage(matches, next_cursor, total)

    async def write(self, identity: Identity, local_base: str | None, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``work`` in one write transaction, then the pre-commit checks, then commit.

        A lost race with another writer (a unique key, a deadlock) runs the whole unit again:
        the second attempt sees the winner's data and decides afresh (a 412, an update)."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                async with self.database.transaction() as conn:
                    unit = UnitOfWork(conn, identity, now_us(), local_base, self.listeners)
                    result = await work(unit)
                    await unit.finish()
                    return result
            except WriteRace as race:
                log.info("write race (attempt %d): %s", attempt, race)
        raise conflict("The resource is being changed by others at this moment; try again")

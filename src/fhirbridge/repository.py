"""The FHIR-shaped storage: read, vread, history, search, and the write transaction.

Storage knows nothing of who is asking: it returns what is stored and writes what it is
given.  Callers reach it through the access layer (:class:`fhirbridge.access.guarded.
GuardedRepository`), which judges every read, search, history and write by the access policy;
only the server's own work (the access log, loading, maintenance) uses it directly.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import TypeVar, cast

from fhirbridge.errors import Issue, conflict, gone
from fhirbridge.fhir.instants import now_us
from fhirbridge.identity import Identity
from fhirbridge.search.includes import Included, Keep, record, resolve_includes
from fhirbridge.search.query import SearchQuery
from fhirbridge.search.selective import inline_includes, selective
from fhirbridge.search.snapshots import create_snapshot, snapshot_page, snapshot_row, snapshot_total
from fhirbridge.search.sql import compile_count, compile_page, compile_sorted
from fhirbridge.storage import feed, labels, store
from fhirbridge.storage.database import Connection, Database, Row, WriteRace
from fhirbridge.storage.feed import Position
from fhirbridge.storage.records import HistoryEntry, StoredResource
from fhirbridge.writes.events import WriteEnricher, WriteListener
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteChecks

T = TypeVar("T")
log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: matches, included resources, the next page's cursor, the total if known."""

    matches: list[StoredResource]
    included: list[StoredResource]
    next_cursor: str | None
    total: int | None
    warnings: list[Issue]


class FhirRepository:
    """Rows as FHIR resources, for whoever asks (the access layer asks for callers)."""

    def __init__(
        self,
        database: Database,
        listeners: tuple[WriteListener, ...] = (),
        enrichers: tuple[WriteEnricher, ...] = (),
        other_bases: tuple[str, ...] = (),
    ) -> None:
        self.database = database
        self.listeners = listeners
        self.enrichers = enrichers
        self.other_bases = other_bases
        """Base URLs of this server besides the request's own (references to them are made relative)."""

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        async with self.database.reader() as conn:
            await conn.fetchval("SELECT 1")

    async def read(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version, deleted or not (R4 http.html#read)."""
        async with self.database.reader() as conn:
            return await store.read_current(conn, resource_type, resource_id)

    async def read_with_epochs(
        self, resource_type: str, resource_id: str, directory_scope: str
    ) -> tuple[StoredResource | None, dict[str, int]]:
        """The current version and the access epochs of the directory and of the patients it
        names, in one statement (:func:`fhirbridge.storage.store.read_current_with_epochs`)."""
        async with self.database.reader() as conn:
            return await store.read_current_with_epochs(conn, resource_type, resource_id, directory_scope)

    async def labels_in_use(self, resource_types: list[str]) -> list[labels.IndexedLabel]:
        """The distinct profiles, tags and security labels of the live resources of the types,
        from the search index (:mod:`fhirbridge.storage.labels`): candidates, whoever may see them."""
        async with self.database.reader(heavy=True) as conn:
            return await labels.labels_in_use(conn, resource_types)

    async def vread(self, resource_type: str, resource_id: str, version: int) -> StoredResource | None:
        """One version (R4 http.html#vread)."""
        async with self.database.reader() as conn:
            return await store.read_version(conn, resource_type, resource_id, version)

    async def referrers(
        self, resource_type: str, resource_id: str
    ) -> list[tuple[tuple[str, str, str], StoredResource | None]]:
        """Live resources that refer to this one (what would block its deletion), each with its
        current version."""
        async with self.database.reader() as conn:
            found = await store.referrers(conn, resource_type, resource_id)
            return [(item, await store.read_current(conn, item[0], item[1])) for item in found]

    async def history(
        self,
        *,
        resource_type: str | None,
        resource_id: str | None,
        since: int | None,
        past: Position | None,
        oldest_first: bool = False,
        limit: int,
    ) -> list[HistoryEntry]:
        """Up to ``limit`` versions, newest first (R4 http.html#history) or in commit order
        (the change feed, :mod:`fhirbridge.storage.feed`), beyond the ``past`` position."""
        async with self.database.reader(heavy=True) as conn:
            return await feed.history(
                conn,
                resource_type=resource_type,
                resource_id=resource_id,
                since=since,
                past=past,
                oldest_first=oldest_first,
                limit=limit,
            )

    async def search(self, query: SearchQuery, local_base: str | None, *, heavy: bool = True) -> SearchPage:
        """One page of matches with its includes (R4 search.html).  Without ``_sort`` pages follow
        the resource key; a sorted result that needs more than one page is kept as a snapshot that
        later pages read (see :mod:`fhirbridge.search.snapshots`).  ``heavy=False`` is the caller's
        word that the page is found through a selective index (one patient's few resources): it
        is then read like a point read (:meth:`Database.reader`), without a hop to a worker thread,
        and so is every search that :func:`~fhirbridge.search.selective.selective` finds through
        an index by equality."""
        heavy = heavy and not selective(query)
        if query.count == 0:
            async with self.database.reader(heavy=True) as conn:
                count_sql, count_args = compile_count(query, conn.dialect, local_base)
                counted = int(await conn.fetchval(count_sql, *count_args))
            return SearchPage([], [], None, counted, [])
        if query.snapshot is not None:
            return await self._snapshot_page(query, *query.snapshot)
        if query.sort:
            rows = await self.sorted_rows(query, local_base, query.count + 1, heavy=heavy)
            if len(rows) <= query.count:
                return await self._finish(query, rows, None, len(rows))
            snapshot_id = await self.new_snapshot(query, local_base)
            return await self._snapshot_page(query, snapshot_id, 0)
        several = query.total != "none" or bool(query.includes)
        inline = not heavy and (not query.includes or inline_includes(query, query.count))
        async with self.database.reader(snapshot=several, heavy=not inline) as conn:
            sql, args = compile_page(query, conn.dialect, local_base, limit=query.count + 1)
            rows_read = await conn.fetch(sql, *args)
            total: int | None = None
            matches = [record(row) for row in rows_read[: query.count]]
            more = len(rows_read) > query.count
            paged = more or query.keyset_cursor is not None
            if query.total != "none" or (query.count_when_paged and paged):
                count_sql, count_args = compile_count(query, conn.dialect, local_base)
                total = int(await conn.fetchval(count_sql, *count_args))
            if total is None and not more and query.keyset_cursor is None:
                total = len(matches)
            next_cursor = f"k{matches[-1].pk}" if more and matches else None
            return await self._finish(query, matches, next_cursor, total, conn)

    async def sorted_rows(
        self, query: SearchQuery, local_base: str | None, limit: int, *, heavy: bool = True
    ) -> list[StoredResource]:
        """The first ``limit`` matches of a sorted search, read directly (no snapshot)."""
        async with self.database.reader(heavy=heavy) as conn:
            sql, args = compile_sorted(query, conn.dialect, local_base, limit=limit)
            return [record(row) for row in await conn.fetch(sql, *args)]

    async def new_snapshot(self, query: SearchQuery, local_base: str | None) -> str:
        """Keep a sorted search's result for its later pages; returns the snapshot's id."""
        async with self.database.transaction(heavy=True) as conn:
            snapshot_id, _ = await create_snapshot(conn, query, local_base, now_us())
        return snapshot_id

    async def snapshot_row(self, snapshot_id: str, res_pk: int) -> tuple[int, Row] | None:
        """Where a resource sits in a snapshot, with its row."""
        async with self.database.reader(heavy=True) as conn:
            return await snapshot_row(conn, snapshot_id, res_pk)

    async def snapshot_rows(
        self, snapshot_id: str, resource_type: str, after: int, limit: int
    ) -> list[tuple[int, StoredResource]]:
        """Up to ``limit`` rows of a snapshot after position ``after``; 410 once it has expired."""
        async with self.database.reader(snapshot=True, heavy=True) as conn:
            if await snapshot_total(conn, snapshot_id, resource_type) is None:
                raise gone("This page of search results has expired; run the search again")
            page = await snapshot_page(conn, snapshot_id, after, limit)
        return [(position, record(row)) for position, row in page]

    async def _snapshot_page(self, query: SearchQuery, snapshot_id: str, after: int) -> SearchPage:
        async with self.database.reader(snapshot=True, heavy=True) as conn:
            total = await snapshot_total(conn, snapshot_id, query.resource_type)
            if total is None:
                raise gone("This page of search results has expired; run the search again")
            rows = await snapshot_page(conn, snapshot_id, after, query.count + 1)
        matches = [record(row) for _, row in rows[: query.count]]
        next_cursor = f"s{snapshot_id}.{rows[query.count - 1][0]}" if len(rows) > query.count and query.count else None
        return await self._finish(query, matches, next_cursor, total)

    async def includes(self, query: SearchQuery, matches: list[StoredResource], keep: Keep | None = None) -> Included:
        """What the query's ``_include``/``_revinclude`` bring for ``matches`` (each round read on
        its own connection, and filtered by ``keep`` before it is iterated from)."""
        if not query.includes or not matches:
            return Included()
        heavy = not inline_includes(query, len(matches))
        return await resolve_includes(partial(self.database.reader, heavy=heavy), query.includes, matches, keep)

    async def _finish(
        self,
        query: SearchQuery,
        matches: list[StoredResource],
        next_cursor: str | None,
        total: int | None,
        conn: Connection | None = None,
    ) -> SearchPage:
        """The page with its includes, read on ``conn`` (the page's own snapshot) when given."""
        if conn is not None and query.includes and matches:
            included = await resolve_includes(partial(_same, conn), query.includes, matches)
        else:
            included = await self.includes(query, matches)
        return SearchPage(matches, included.resources, next_cursor, total, included.warnings)

    async def write(
        self,
        identity: Identity,
        local_base: str | None,
        work: Callable[[UnitOfWork], Awaitable[T]],
        *,
        dry_run: bool = False,
        checks: WriteChecks | None = None,
        at: int | None = None,
        at_once: bool = False,
    ) -> T:
        """Run ``work`` in one write transaction, then the pre-commit checks, then commit.

        ``identity`` is who writes (for the records of the change); ``checks`` are the access
        layer's judgement of the caller's own writes, none for the server's.  A lost race with
        another writer (a unique key, a deadlock) runs the whole unit again: the second attempt
        sees the winner's data and decides afresh (a 412, an update).  A ``dry_run``
        (``$validate``) runs all of it, every rule and listener, and rolls back: what it answers
        is what the write would have answered.  ``at`` (µs since the epoch) dates the change
        instead of now: the server's own loading of a resource's history (demo contracts agreed
        months ago and revised since), never a caller's write.  ``at_once`` commits as the unit
        ends, not joined by writes queued behind it (the access log's batches, which must not
        give requests a turn once they fall behind)."""
        if at is not None and not identity.unrestricted:
            raise ValueError("only the server's own writes are dated")
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                async with self.database.transaction(at_once=at_once) as conn:
                    unit = UnitOfWork(
                        conn,
                        identity,
                        now_us() if at is None else at,
                        local_base,
                        self.listeners,
                        self.enrichers,
                        guard=checks.guard if checks else None,
                        sees=checks.sees if checks else None,
                        view=checks.view if checks else None,
                        names=checks.names if checks else None,
                        narrow=checks.narrow if checks else None,
                        knows=checks.knows if checks else None,
                        exists=checks.exists if checks else None,
                        other_bases=self.other_bases,
                        dry_run=dry_run,
                    )
                    result = await work(unit)
                    await unit.finish()
                    if dry_run:
                        raise _RolledBack(result)
                    return result
            except _RolledBack as rolled_back:
                return cast(T, rolled_back.result)
            except WriteRace as race:
                log.info("write race (attempt %d): %s", attempt, race)
        raise conflict("The resource is being changed by others at this moment; try again")


class _RolledBack(Exception):
    """Leaves a dry run's transaction by rollback, carrying what the write would have returned."""

    def __init__(self, result: object) -> None:
        super().__init__("dry run")
        self.result = result


@asynccontextmanager
async def _same(conn: Connection) -> AsyncIterator[Connection]:
    """A connection already open, as an include round's ``connect`` (a page's own snapshot)."""
    yield conn

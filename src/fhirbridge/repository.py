"""The FHIR-shaped storage interface: read, vread, history, search, and the write path.

Every method takes the :class:`~fhirbridge.identity.Identity` of the caller, and the access
policy (:mod:`fhirbridge.access.policy`) filters here, in one place, what every route reads:
reads, searches with their includes, histories; and every write passes its check inside the
write transaction (:class:`~fhirbridge.writes.unit_of_work.UnitOfWork` calls it).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

from fhirbridge.access.compartment import SERVER_WRITTEN
from fhirbridge.access.kept import KeptFacts
from fhirbridge.access.policy import AccessPolicy
from fhirbridge.auth.scopes import Permission
from fhirbridge.errors import Issue, bad_request, conflict, gone
from fhirbridge.fhir.instants import now_us
from fhirbridge.identity import Identity
from fhirbridge.search.includes import Included, Keep, record, resolve_includes
from fhirbridge.search.query import SearchQuery
from fhirbridge.search.snapshots import create_snapshot, snapshot_page, snapshot_row, snapshot_total
from fhirbridge.search.sql import compile_count, compile_page, compile_sorted
from fhirbridge.storage import store
from fhirbridge.storage.database import Connection, Database, PinnedDatabase, WriteRace
from fhirbridge.storage.records import HistoryEntry, StoredResource
from fhirbridge.writes.events import WriteEnricher, WriteListener
from fhirbridge.writes.unit_of_work import UnitOfWork

T = TypeVar("T")
log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 5
FILL_PAGE = 100
"""Rows read at a time to fill a restricted caller's page past what they may not see."""
FILL_SCAN = 2000
"""The most rows read for one restricted caller's page."""


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: matches, included resources, the next page's cursor, the total if known."""

    matches: list[StoredResource]
    included: list[StoredResource]
    next_cursor: str | None
    total: int | None
    warnings: list[Issue]


class FhirRepository:
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
        self.policy = AccessPolicy(self, KeptFacts())

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        async with self.database.reader() as conn:
            await conn.fetchval("SELECT 1")

    async def read(self, identity: Identity, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version, deleted or not (R4 http.html#read); None when the caller may
        not know of it, a 403 when the Patient Data Act refuses a user."""
        async with self.database.reader() as conn:
            record = await store.read_current(conn, resource_type, resource_id)
        return await self._readable(identity, record)

    async def _readable(self, identity: Identity, record: StoredResource | None) -> StoredResource | None:
        if record is None:
            return record
        access = await self.policy.check_read(identity, record)
        return access.view(record) if access is not None else None

    async def referrers(self, identity: Identity, resource_type: str, resource_id: str) -> list[tuple[str, str, str]]:
        """Live resources that refer to this one (what would block its deletion), as far as the
        caller may see them."""
        async with self.database.reader() as conn:
            found = await store.referrers(conn, resource_type, resource_id)
            if identity.unrestricted:
                return found
            records = [await store.read_current(conn, t, i) for t, i, _ in found]
        visible = {
            (r.resource_type, r.resource_id) for r in await self.policy.visible(identity, [r for r in records if r])
        }
        return [item for item in found if (item[0], item[1]) in visible]

    async def vread(
        self, identity: Identity, resource_type: str, resource_id: str, version: int
    ) -> StoredResource | None:
        async with self.database.reader() as conn:
            record = await store.read_version(conn, resource_type, resource_id, version)
        return await self._readable(identity, record)

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
        """Up to ``limit`` versions the caller may see, newest first (R4 http.html#history),
        read past the ones they may not (so that a short page tells nothing of them)."""
        shown: list[HistoryEntry] = []
        scanned = 0
        batch = limit if identity.unrestricted else max(limit, FILL_PAGE)
        while len(shown) < limit and scanned < FILL_SCAN:
            async with self.database.reader(heavy=True) as conn:
                entries = await store.history(
                    conn,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    since=since,
                    before_seq=before_seq,
                    limit=batch,
                )
            versions = [
                StoredResource(e.resource_type, e.resource_id, e.version, e.last_updated, e.content is None, e.content)
                for e in entries
            ]
            visible = {id(version) for version in await self.policy.visible(identity, versions, "rs")}
            shown += [entry for entry, version in zip(entries, versions, strict=True) if id(version) in visible]
            if len(entries) < batch or identity.unrestricted:
                break
            scanned, before_seq = scanned + len(entries), entries[-1].seq
        return shown[:limit]

    async def search(self, identity: Identity, query: SearchQuery, local_base: str | None) -> SearchPage:
        """One page of matches with its includes (R4 search.html), as much as the caller may see.

        A patient's search is kept to their compartment; other callers' pages leave out what
        they may not see, and then give no total (a count would tell of what is hidden)."""
        query = await self.policy.restrict(identity, query)
        if identity.unrestricted:
            return await self._search(query, local_base)
        # The includes follow the visible matches only: a hidden match must not bring its
        # care team's people and units along (or tell by them that it exists).
        if query.count == 0:
            page = await self._search(dataclasses.replace(query, includes=[]), local_base)
            matches: list[StoredResource] = []
        elif query.sort or query.snapshot is not None:
            page, matches = await self._visible_sorted_page(identity, query, local_base)
        else:
            page, matches = await self._visible_page(identity, query, local_base)
        found = await self._includes(query, matches, keep=partial(self.policy.visible, identity, permissions="rs"))
        included = found.resources
        # No total: a count over what the caller may not see (another patient's, a blocked
        # unit's) would tell of it.
        return SearchPage(matches, included, page.next_cursor, None, page.warnings + found.warnings)

    async def _visible_page(
        self, identity: Identity, query: SearchQuery, local_base: str | None
    ) -> tuple[SearchPage, list[StoredResource]]:
        """A page of ``query.count`` matches the caller may see, read in key order past those
        they may not, with a ``next`` link only when a further match they may see exists (or
        :data:`FILL_SCAN` rows were read without deciding it): neither a short page nor a link
        tells of hidden matches."""
        first = await self._search(dataclasses.replace(query, includes=[]), local_base)
        kept = await self.policy.visible(identity, first.matches, "s")
        raw = dataclasses.replace(query, includes=[], total="none", count=max(query.count, FILL_PAGE))
        cursor, scanned = first.next_cursor, len(first.matches)
        while cursor is not None and len(kept) <= query.count and scanned < FILL_SCAN:
            page = await self._search(dataclasses.replace(raw, keyset_cursor=int(cursor[1:])), local_base)
            kept += await self.policy.visible(identity, page.matches, "s")
            cursor, scanned = page.next_cursor, scanned + len(page.matches)
        matches = kept[: query.count]
        if len(kept) > query.count:
            cursor = f"k{matches[-1].pk}"
        return dataclasses.replace(first, next_cursor=cursor), matches

    async def _visible_sorted_page(
        self, identity: Identity, query: SearchQuery, local_base: str | None
    ) -> tuple[SearchPage, list[StoredResource]]:
        """:meth:`_visible_page` for a sorted search: the first page as a sorted query, and
        when more than a page matches, the snapshot read past what the caller may not see."""
        if query.snapshot is not None:
            snapshot_id, _ = query.snapshot
            if query.snapshot_after_row is None:  # a position would let a caller count hidden rows
                raise bad_request("_cursor is not a page this server handed out to you", "_cursor")
            async with self.database.reader(heavy=True) as conn:
                found_row = await snapshot_row(conn, snapshot_id, query.snapshot_after_row)
            # Only a row the caller was shown continues a page: any other would tell that it matches.
            if found_row is None or not await self.policy.visible(identity, [record(found_row[1])], "s"):
                raise bad_request("_cursor is not a page this server handed out to you", "_cursor")
            after = found_row[0]
        else:
            async with self.database.reader(heavy=True) as conn:
                sql, args = compile_sorted(query, conn.dialect, local_base, limit=query.count + 1)
                first = [record(row) for row in await conn.fetch(sql, *args)]
            if len(first) <= query.count:
                found = await self.policy.visible(identity, first, "s")
                return SearchPage(found, [], None, None, []), found
            async with self.database.transaction(heavy=True) as conn:
                snapshot_id, _ = await create_snapshot(conn, query, local_base, now_us())
            after = 0
        kept: list[StoredResource] = []
        scanned, exhausted = 0, False
        while len(kept) <= query.count and scanned < FILL_SCAN:
            async with self.database.reader(snapshot=True, heavy=True) as conn:
                if await snapshot_total(conn, snapshot_id, query.resource_type) is None:
                    raise gone("This page of search results has expired; run the search again")
                page = await snapshot_page(conn, snapshot_id, after, FILL_PAGE)
            read = [record(row) for _, row in page]
            kept += await self.policy.visible(identity, read, "s")
            scanned += len(page)
            if len(page) < FILL_PAGE:
                exhausted = True
                break
            after = page[-1][0]
        found = kept[: query.count]
        # The cursor names the row to continue after by its resource, not its position, which
        # would count the rows hidden from the caller.
        cursor = f"s{snapshot_id}.r{found[-1].pk}" if len(kept) > query.count else None
        warnings = []
        if not exhausted and cursor is None:
            warnings.append(
                Issue("warning", "too-costly", f"The search read {FILL_SCAN} rows without filling the page; narrow it")
            )
        return SearchPage(found, [], cursor, None, warnings), found

    async def _search(self, query: SearchQuery, local_base: str | None) -> SearchPage:
        """Without ``_sort`` pages follow the resource key; a sorted result that needs more than
        one page is kept as a snapshot that later pages read (see :mod:`fhirbridge.search.snapshots`)."""
        if query.count == 0:
            async with self.database.reader(heavy=True) as conn:
                count_sql, count_args = compile_count(query, conn.dialect, local_base)
                counted = int(await conn.fetchval(count_sql, *count_args))
            return SearchPage([], [], None, counted, [])
        if query.snapshot is not None:
            return await self._snapshot_page(query, *query.snapshot)
        if query.sort:
            async with self.database.reader(heavy=True) as conn:
                sql, args = compile_sorted(query, conn.dialect, local_base, limit=query.count + 1)
                rows = await conn.fetch(sql, *args)
            if len(rows) <= query.count:
                return await self._finish(query, [record(row) for row in rows], None, len(rows))
            async with self.database.transaction(heavy=True) as conn:
                snapshot_id, _ = await create_snapshot(conn, query, local_base, now_us())
            return await self._snapshot_page(query, snapshot_id, 0)
        several = query.total != "none" or bool(query.includes)
        async with self.database.reader(snapshot=several, heavy=True) as conn:
            sql, args = compile_page(query, conn.dialect, local_base, limit=query.count + 1)
            rows = await conn.fetch(sql, *args)
            total: int | None = None
            if query.total != "none":
                count_sql, count_args = compile_count(query, conn.dialect, local_base)
                total = int(await conn.fetchval(count_sql, *count_args))
            matches = [record(row) for row in rows[: query.count]]
            more = len(rows) > query.count
            if total is None and not more and query.keyset_cursor is None:
                total = len(matches)
            next_cursor = f"k{matches[-1].pk}" if more and matches else None
            return await self._finish(query, matches, next_cursor, total, conn)

    async def _snapshot_page(self, query: SearchQuery, snapshot_id: str, after: int) -> SearchPage:
        async with self.database.reader(snapshot=True, heavy=True) as conn:
            total = await snapshot_total(conn, snapshot_id, query.resource_type)
            if total is None:
                raise gone("This page of search results has expired; run the search again")
            rows = await snapshot_page(conn, snapshot_id, after, query.count + 1)
        matches = [record(row) for _, row in rows[: query.count]]
        next_cursor = f"s{snapshot_id}.{rows[query.count - 1][0]}" if len(rows) > query.count and query.count else None
        return await self._finish(query, matches, next_cursor, total)

    async def _includes(self, query: SearchQuery, matches: list[StoredResource], keep: Keep | None = None) -> Included:
        """What the query's ``_include``/``_revinclude`` bring for ``matches`` (each round read on
        its own connection, and filtered by ``keep`` before it is iterated from)."""
        if not query.includes or not matches:
            return Included()
        return await resolve_includes(partial(self.database.reader, heavy=True), query.includes, matches, keep)

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
            included = await self._includes(query, matches)
        return SearchPage(matches, included.resources, next_cursor, total, included.warnings)

    async def write(
        self,
        identity: Identity,
        local_base: str | None,
        work: Callable[[UnitOfWork], Awaitable[T]],
        *,
        dry_run: bool = False,
    ) -> T:
        """Run ``work`` in one write transaction, then the pre-commit checks, then commit.

        A lost race with another writer (a unique key, a deadlock) runs the whole unit again:
        the second attempt sees the winner's data and decides afresh (a 412, an update).
        A ``dry_run`` (``$validate``) runs all of it, every rule and listener, and rolls back:
        what it answers is what the write would have answered."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                async with self.database.transaction() as conn:
                    unit = UnitOfWork(
                        conn,
                        identity,
                        now_us(),
                        local_base,
                        self.listeners,
                        self.enrichers,
                        guard=self._guard,
                        sees=self._sees,
                        view=self._view,
                        names=self._names,
                        narrow=self._narrow,
                        knows=self._knows,
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

    @staticmethod
    async def _sees(unit: UnitOfWork, record: StoredResource) -> bool:
        """Whether the unit's caller may see ``record`` (judged on the write's own connection)."""
        return await FhirRepository._view(unit, record) is not None

    @staticmethod
    async def _view(unit: UnitOfWork, record: StoredResource) -> StoredResource | None:
        """``record`` as the unit's caller sees it, or None (judged on the write's own connection)."""
        if unit.identity.unrestricted:
            return record
        shown = await _policy_inside(unit).visible(unit.identity, [record], "r")
        return shown[0] if shown else None

    @staticmethod
    async def _narrow(unit: UnitOfWork, query: SearchQuery) -> SearchQuery:
        """The unit's conditional criteria as its caller may search (judged on the write's connection)."""
        return await _policy_inside(unit).restrict(unit.identity, query)

    @staticmethod
    async def _knows(unit: UnitOfWork, record: StoredResource) -> bool:
        """Whether ``record`` exists for the unit's caller (judged on the write's own connection)."""
        return unit.identity.unrestricted or await _policy_inside(unit).knows(unit.identity, record)

    @staticmethod
    async def _names(unit: UnitOfWork, patient_id: str) -> bool:
        """Whether the unit's caller may write about the patient (judged on the write's connection)."""
        if unit.identity.unrestricted:
            return True
        return await _policy_inside(unit).may_write_for(unit.identity, patient_id)

    @staticmethod
    async def _guard(
        unit: UnitOfWork,
        permission: Permission,
        resource_type: str,
        resource: dict[str, Any] | None,
        previous: StoredResource | None,
    ) -> None:
        """The access policy's say on one write, judged on the write's own connection, so that
        what the transaction wrote so far (a new patient's first care team) counts."""
        if unit.identity.unrestricted and resource_type not in SERVER_WRITTEN:
            return
        await _policy_inside(unit).check_write(unit.identity, permission, resource_type, resource, previous)


class _RolledBack(Exception):
    """Leaves a dry run's transaction by rollback, carrying what the write would have returned."""

    def __init__(self, result: object) -> None:
        super().__init__("dry run")
        self.result = result


@asynccontextmanager
async def _same(conn: Connection) -> AsyncIterator[Connection]:
    """A connection already open, as an include round's ``connect`` (a page's own snapshot)."""
    yield conn


def _policy_inside(unit: UnitOfWork) -> AccessPolicy:
    """The access policy reading on a write's own connection: what the transaction wrote so far
    counts, and no second connection is taken from the pool."""
    return AccessPolicy(FhirRepository(PinnedDatabase(unit.conn)))

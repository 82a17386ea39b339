"""Storage as a caller may see it: every read, search, history and write judged by the access
policy, in one place (docs/security.md).

:class:`GuardedRepository` wraps the storage (:class:`fhirbridge.repository.FhirRepository`,
which knows no caller) with the same questions asked *by someone*: every method takes the
caller's :class:`~fhirbridge.identity.Identity`.  Reads and versions a caller may not know of
are None, a refusal under the Patient Data Act a 403; pages are filled past what the caller may
not see and carry no total; every write passes the policy's checks inside its own transaction
(:class:`~fhirbridge.writes.unit_of_work.WriteChecks`, judged on the write's connection, so
that what the transaction wrote so far counts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from fhirbridge.access.compartment import SERVER_WRITTEN
from fhirbridge.access.epochs import changed_scopes
from fhirbridge.access.kept import KeptFacts
from fhirbridge.access.policy import AccessPolicy
from fhirbridge.access.views import sorts_as_stored, still_matches, told_includes
from fhirbridge.auth.scopes import Permission
from fhirbridge.errors import Issue, bad_request
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import named_targets
from fhirbridge.identity import Identity
from fhirbridge.repository import FhirRepository, SearchPage
from fhirbridge.search.includes import record
from fhirbridge.search.query import SearchQuery, parse_query
from fhirbridge.storage.database import Database, PinnedDatabase
from fhirbridge.storage.epochs import DIRECTORY
from fhirbridge.storage.feed import Position
from fhirbridge.storage.labels import IndexedLabel
from fhirbridge.storage.records import HistoryEntry, HistoryPage, StoredResource
from fhirbridge.writes.events import WriteEnricher, WriteListener
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteChecks

T = TypeVar("T")
FILL_PAGE = 100
"""Rows read at a time to fill a restricted caller's page past what they may not see."""
FILL_SCAN = 2000
"""The most rows read for one restricted caller's page."""


class GuardedRepository:
    """The storage, asked on behalf of a caller."""

    def __init__(self, store: FhirRepository, kept: KeptFacts | None = None) -> None:
        self.store = store
        self.policy = AccessPolicy(self, kept if kept is not None else KeptFacts())

    @property
    def database(self) -> Database:
        return self.store.database

    @property
    def listeners(self) -> tuple[WriteListener, ...]:
        return self.store.listeners

    @listeners.setter
    def listeners(self, listeners: tuple[WriteListener, ...]) -> None:
        self.store.listeners = listeners

    @property
    def enrichers(self) -> tuple[WriteEnricher, ...]:
        return self.store.enrichers

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        await self.store.ping()

    async def read(self, identity: Identity, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version, deleted or not (R4 http.html#read); None when the caller may
        not know of it, a 403 when the Patient Data Act refuses a user."""
        if identity.unrestricted:  # judged by nothing the epochs guard
            return await self._readable(identity, await self.store.read(resource_type, resource_id))
        # The epochs the policy checks what it kept against come with the record: one round trip.
        record, epochs = await self.store.read_with_epochs(resource_type, resource_id, DIRECTORY)
        if record is None:
            return None
        access = await self.policy.check_read(identity, record, epochs=epochs)
        return access.view(record) if access is not None else None

    async def vread(
        self, identity: Identity, resource_type: str, resource_id: str, version: int
    ) -> StoredResource | None:
        return await self._readable(identity, await self.store.vread(resource_type, resource_id, version))

    async def _readable(self, identity: Identity, record: StoredResource | None) -> StoredResource | None:
        if record is None:
            return record
        access = await self.policy.check_read(identity, record)
        return access.view(record) if access is not None else None

    async def referrers(self, identity: Identity, resource_type: str, resource_id: str) -> list[tuple[str, str, str]]:
        """Live resources that refer to this one (what would block its deletion), as far as the
        caller may see them: none when the caller may not know of this one, and a referrer only
        when its view (a plan read from outside a blocked unit) still holds the reference."""
        found = await self.store.referrers(resource_type, resource_id)
        if identity.unrestricted:
            return [item for item, _ in found]
        target = await self.store.read(resource_type, resource_id)
        if target is None or not await self.policy.knows(identity, target):
            return []
        records = [current for _, current in found if current is not None]
        holding = {
            (shown.resource_type, shown.resource_id)
            for shown in await self.policy.visible(identity, records)
            if shown.content is not None and (resource_type, resource_id) in named_targets(loads(shown.content))
        }
        return [item for item, _ in found if (item[0], item[1]) in holding]

    async def labelled(
        self, identity: Identity, resource_types: list[str], local_base: str | None
    ) -> list[tuple[IndexedLabel, StoredResource]]:
        """Each profile, tag and security label in use on the types (R4
        resource-operation-meta.html, type and system level), with the first resource carrying
        it that the caller may see, as they see it: a label only hidden resources carry is left
        out (its name alone can tell of them).  Each is looked for as the search ``_tag=system|code``
        (``_security``, ``_profile``) of the caller would find it (their compartment, what they
        may see, what their view still holds), read in key order until one is found: unlike a
        search page, no further match is needed to decide on a ``next`` link."""
        found = []
        for label in await self.store.labels_in_use(resource_types):
            value = label.code if label.param == "_profile" else f"{label.system or ''}|{label.code or ''}"
            pairs = [(label.param, (value or "").replace(",", "\\,"))]
            query = parse_query(label.resource_type, pairs, strict=True, default_count=1, max_count=FILL_PAGE)
            query = await self.policy.restrict(identity, query)
            query.count = 1 if identity.unrestricted else FILL_PAGE // 10
            while True:
                page = await self.store.search(query, local_base)
                shown = page.matches if identity.unrestricted else await self._matching(identity, query, page.matches)
                if shown:
                    found.append((label, shown[0]))
                if shown or page.next_cursor is None:
                    break
                query = dataclasses.replace(query, count=FILL_PAGE, keyset_cursor=int(page.next_cursor[1:]))
        return found

    async def history(
        self,
        identity: Identity,
        *,
        resource_type: str | None,
        resource_id: str | None,
        since: int | None,
        past: Position | None,
        oldest_first: bool = False,
        limit: int,
    ) -> HistoryPage:
        """Up to ``limit`` versions the caller may see (R4 http.html#history), newest first or in
        commit order (:mod:`fhirbridge.storage.feed`), read past the ones they may not (so that a
        short page tells nothing of them).  The page says where the reading stopped, so that the
        next page goes on after the last version read, shown or not."""
        shown: list[HistoryEntry] = []
        scanned = 0
        # One more than asked tells an unrestricted caller's last full page from one with more after it.
        batch = limit + 1 if identity.unrestricted else max(limit, FILL_PAGE)
        last_read = past
        while True:
            entries = await self.store.history(
                resource_type=resource_type,
                resource_id=resource_id,
                since=since,
                past=last_read,
                oldest_first=oldest_first,
                limit=batch,
            )
            versions = [
                StoredResource(e.resource_type, e.resource_id, e.version, e.last_updated, e.content is None, e.content)
                for e in entries
            ]
            # Each version as the caller sees it (a plan read from outside a blocked unit, a log
            # entry masked for its patient), like a vread of it: by its key, not its object.
            views = {
                (v.resource_type, v.resource_id, v.version): v
                for v in await self.policy.visible(identity, versions, "rs")
            }
            for entry in entries:
                if len(shown) == limit:
                    return HistoryPage(shown, last_read, exhausted=False)
                view = views.get((entry.resource_type, entry.resource_id, entry.version))
                if view is not None:
                    shown.append(dataclasses.replace(entry, content=view.content))
                last_read = entry.position
            scanned += len(entries)
            if len(entries) < batch:
                return HistoryPage(shown, last_read, exhausted=True)
            if len(shown) == limit or scanned >= FILL_SCAN:
                return HistoryPage(shown, last_read, exhausted=False)

    async def search(
        self, identity: Identity, query: SearchQuery, local_base: str | None, *, heavy: bool = True
    ) -> SearchPage:
        """One page of matches with its includes (R4 search.html), as much as the caller may see.

        A patient's search is kept to their compartment; other callers' pages leave out what
        they may not see, and then give no total (a count would tell of what is hidden)."""
        query = await self.policy.restrict(identity, query)
        if identity.unrestricted:
            return await self.store.search(query, local_base, heavy=heavy)
        query = dataclasses.replace(query, count_when_paged=False)  # no total is given them: nothing to count
        # The includes follow the visible matches only: a hidden match must not bring its
        # care team's people and units along (or tell by them that it exists).
        if query.count == 0:
            page = await self.store.search(dataclasses.replace(query, includes=[]), local_base, heavy=heavy)
            matches: list[StoredResource] = []
        elif query.sort or query.snapshot is not None:
            page, matches = await self._visible_sorted_page(identity, query, local_base)
        else:
            page, matches = await self._visible_page(identity, query, local_base)
        found = await self.store.includes(query, matches, keep=partial(self.policy.visible, identity, permissions="rs"))
        # No total: a count over what the caller may not see (another patient's, a blocked
        # unit's) would tell of it.
        return SearchPage(
            matches,
            told_includes(query, matches, found.resources),
            page.next_cursor,
            None,
            page.warnings + found.warnings,
        )

    async def _matching(
        self, identity: Identity, query: SearchQuery, records: list[StoredResource], *, sorted_page: bool = False
    ) -> list[StoredResource]:
        """The matches the caller may see, as they see them, less those whose view (a plan read
        from outside a blocked unit) no longer holds what a reference clause matched on: the
        match would tell what the view keeps from them (:mod:`fhirbridge.access.views`); on a
        sorted page, less those too whose view would sort elsewhere than the stored content
        (:func:`~fhirbridge.access.views.sorts_as_stored`)."""
        stored = {(r.resource_type, r.resource_id, r.version): r for r in records}
        kept = []
        for view in await self.policy.visible(identity, records, "s"):
            original = stored[(view.resource_type, view.resource_id, view.version)]
            if not still_matches(query, view, original):
                continue
            if sorted_page and not sorts_as_stored(query, view, original):
                continue
            kept.append(view)
        return kept

    async def _visible_page(
        self, identity: Identity, query: SearchQuery, local_base: str | None
    ) -> tuple[SearchPage, list[StoredResource]]:
        """A page of ``query.count`` matches the caller may see, read in key order past those
        they may not, with a ``next`` link only when a further match they may see exists (or
        :data:`FILL_SCAN` rows were read without deciding it): neither a short page nor a link
        tells of hidden matches."""
        first = await self.store.search(dataclasses.replace(query, includes=[]), local_base)
        kept = await self._matching(identity, query, first.matches)
        raw = dataclasses.replace(query, includes=[], total="none", count=max(query.count, FILL_PAGE))
        cursor, scanned = first.next_cursor, len(first.matches)
        while cursor is not None and len(kept) <= query.count and scanned < FILL_SCAN:
            page = await self.store.search(dataclasses.replace(raw, keyset_cursor=int(cursor[1:])), local_base)
            kept += await self._matching(identity, query, page.matches)
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
            found_row = await self.store.snapshot_row(snapshot_id, query.snapshot_after_row)
            # Only a row the caller was shown continues a page: any other would tell that it matches.
            if found_row is None or not await self._matching(identity, query, [record(found_row[1])], sorted_page=True):
                raise bad_request("_cursor is not a page this server handed out to you", "_cursor")
            after = found_row[0]
        else:
            first = await self.store.sorted_rows(query, local_base, query.count + 1)
            if len(first) <= query.count:
                found = await self._matching(identity, query, first, sorted_page=True)
                return SearchPage(found, [], None, None, []), found
            snapshot_id = await self.store.new_snapshot(query, local_base)
            after = 0
        kept: list[StoredResource] = []
        scanned, exhausted = 0, False
        while len(kept) <= query.count and scanned < FILL_SCAN:
            page = await self.store.snapshot_rows(snapshot_id, query.resource_type, after, FILL_PAGE)
            kept += await self._matching(identity, query, [row for _, row in page], sorted_page=True)
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

    async def write(
        self,
        identity: Identity,
        local_base: str | None,
        work: Callable[[UnitOfWork], Awaitable[T]],
        *,
        dry_run: bool = False,
        at: int | None = None,
        about: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> T:
        """Run ``work`` in one write transaction with the access policy's checks of the
        caller's writes (:meth:`fhirbridge.repository.FhirRepository.write`).  ``about``: the
        resources the write will store, whose patients the policy reads about beforehand
        (:meth:`AccessPolicy.prepare`)."""
        await self.policy.prepare(identity, about)
        service = self.policy.kept

        async def lending(unit: UnitOfWork) -> T:
            unit.checks_kept = _KeptInWrite(-1, service)  # the checks may borrow the service's directory
            return await work(unit)

        return await self.store.write(identity, local_base, lending, dry_run=dry_run, checks=CHECKS, at=at)


@dataclass
class _KeptInWrite:
    """What the policy read on a write's connection, while the write has written ``written``
    resources: the same patient's facts serve the write's checks of a new and a previous
    version, its references and its conditional matches, until the write writes again.

    ``service`` is what the service keeps between requests: its directory (the people and
    units, by the directory's epoch) is borrowed while the write has written none of them, and
    what it read about patients while the write has written nothing that raises an epoch (a
    write's own changes count only once committed, when they raise the epochs)."""

    written: int
    service: KeptFacts | None
    facts: KeptFacts = field(default_factory=KeptFacts)


def policy_on(unit: UnitOfWork) -> AccessPolicy:
    """The access policy reading on a write's own connection: what the transaction wrote so far
    counts, and no second connection is taken from the pool.  What it reads is kept for the
    unit's next check while the unit writes nothing more (nothing it keeps outlives the write)."""
    kept = unit.checks_kept
    if not isinstance(kept, _KeptInWrite) or kept.written != len(unit.events):
        service = kept.service if isinstance(kept, _KeptInWrite) else None
        changed = changed_scopes(unit.events)
        directory = None if DIRECTORY in changed else service
        patients = None if changed else service
        facts = KeptFacts(directory_of=directory, facts_of=patients)
        kept = unit.checks_kept = _KeptInWrite(len(unit.events), service, facts)
    return AccessPolicy(GuardedRepository(FhirRepository(PinnedDatabase(unit.conn))), kept.facts)


async def _view(unit: UnitOfWork, record: StoredResource) -> StoredResource | None:
    """``record`` as the unit's caller sees it, or None (judged on the write's own connection).
    A plan or care team the caller sees only without a blocked unit's parts counts as unseen
    here (fail closed): conditional criteria judged on the stored content would tell of those
    parts, one guess at a time (ninth review)."""
    if unit.identity.unrestricted:
        return record
    shown = await policy_on(unit).visible(unit.identity, [record], "r", whole=True)
    return shown[0] if shown else None


async def _sees(unit: UnitOfWork, record: StoredResource) -> bool:
    """Whether the unit's caller may see ``record`` (judged on the write's own connection)."""
    return await _view(unit, record) is not None


async def _narrow(unit: UnitOfWork, query: SearchQuery) -> SearchQuery:
    """The unit's conditional criteria as its caller may search (judged on the write's connection)."""
    return await policy_on(unit).restrict(unit.identity, query)


async def _knows(unit: UnitOfWork, record: StoredResource) -> bool:
    """Whether ``record`` exists for the unit's caller (judged on the write's own connection)."""
    return unit.identity.unrestricted or await policy_on(unit).knows(unit.identity, record)


async def _exists(unit: UnitOfWork, record: StoredResource) -> bool:
    """Whether a live resource exists for the unit's caller as a read of it answers
    (:meth:`AccessPolicy.exists_for`, judged on the write's own connection)."""
    return unit.identity.unrestricted or await policy_on(unit).exists_for(unit.identity, record)


async def _names(unit: UnitOfWork, patient_id: str) -> bool:
    """Whether the unit's caller may write about the patient (judged on the write's connection)."""
    if unit.identity.unrestricted:
        return True
    return await policy_on(unit).may_write_for(unit.identity, patient_id)


RULED_FOR_ALL = SERVER_WRITTEN | {"Subscription"}
"""Types whose write rules hold for unrestricted callers too: what the server alone writes, and
a Subscription, which no PUT creates (the CapabilityStatement's ``updateCreate`` false)."""


async def _guard(
    unit: UnitOfWork,
    permission: Permission,
    resource_type: str,
    resource: dict[str, Any] | None,
    previous: StoredResource | None,
) -> None:
    """The access policy's say on one write, judged on the write's own connection, so that
    what the transaction wrote so far (a new patient's first care team) counts."""
    if unit.identity.unrestricted and resource_type not in RULED_FOR_ALL:
        return
    await policy_on(unit).check_write(unit.identity, permission, resource_type, resource, previous)


CHECKS = WriteChecks(guard=_guard, sees=_sees, view=_view, names=_names, narrow=_narrow, knows=_knows, exists=_exists)
"""The policy's checks of every write a caller makes."""

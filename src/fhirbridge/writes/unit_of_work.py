"""A unit of work: the writes of one transaction, and the rules checked before it commits.

Every interaction that changes data (create, update, delete and their conditional forms;
transaction bundles later) runs its steps here, so that versions, history, the search index,
the local links and the write events are all written in the same database transaction.
Before commit, :meth:`UnitOfWork.finish` checks referential integrity both ways (R4 leaves
it to the server; see DOMAIN.md): every local reference written points at a live resource,
and nothing deleted is still referred to.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from fhirbridge.errors import (
    FhirError,
    Issue,
    bad_request,
    conflict,
    error,
    invalid,
    not_found,
    precondition_failed,
)
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.identity import Identity
from fhirbridge.search.index import IndexRows, extract_index
from fhirbridge.search.normalize import indexed
from fhirbridge.search.query import SearchQuery, parse_query
from fhirbridge.search.sql import compile_match_ids
from fhirbridge.storage import store, versions
from fhirbridge.storage.database import Connection
from fhirbridge.storage.records import MAX_VERSION, StoredResource
from fhirbridge.storage.versions import NewVersion
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.canonical import canonical_bytes, same_content, with_server_fields
from fhirbridge.writes.events import WriteAction, WriteEnricher, WriteEvent, WriteListener
from fhirbridge.writes.references import normalise_references

Outcome = Literal["created", "updated", "unchanged", "deleted", "absent", "existing"]
WriteGuard = Callable[
    ["UnitOfWork", Literal["c", "u", "d"], str, dict[str, Any] | None, StoredResource | None], Awaitable[None]
]
"""The access policy's check of one write: the unit, the SMART permission (create, update,
delete), the resource type, the new content (None for a deletion) and the version replaced."""
CONDITIONAL_SCAN = 100
"""The most matches of conditional criteria read for a restricted caller, who sees only those
they may see (the rest do not match for them)."""
IDENTIFIER_MATCHES = 10
"""The most resources read to resolve one identifier (more than one is ambiguous anyway, but
some may be hidden from the writer)."""
UNCHECKED_REFERENCES = frozenset({"AuditEvent"})
"""Types whose references are records of what was there, not dependencies: an AuditEvent may
name a deleted or foreign resource, and must never keep one from being deleted."""


@dataclass(frozen=True)
class WriteChecks:
    """The caller's part in a write, judged by the access layer (:mod:`fhirbridge.access.guarded`):
    storage writes whatever it is given, and a unit without checks is the server's own."""

    guard: WriteGuard
    sees: Callable[[UnitOfWork, StoredResource], Awaitable[bool]]
    view: Callable[[UnitOfWork, StoredResource], Awaitable[StoredResource | None]]
    names: Callable[[UnitOfWork, str], Awaitable[bool]]
    narrow: Callable[[UnitOfWork, SearchQuery], Awaitable[SearchQuery]]
    knows: Callable[[UnitOfWork, StoredResource], Awaitable[bool]]
    exists: Callable[[UnitOfWork, StoredResource], Awaitable[bool]]


@dataclass(frozen=True)
class WriteResult:
    """What a write did; ``record`` is the version now current (None when nothing existed)."""

    outcome: Outcome
    record: StoredResource | None


class UnitOfWork:
    """The writes of one transaction on one connection, by one identity, at one instant."""

    def __init__(
        self,
        conn: Connection,
        identity: Identity,
        now: int,
        local_base: str | None,
        listeners: tuple[WriteListener, ...] = (),
        enrichers: tuple[WriteEnricher, ...] = (),
        *,
        guard: WriteGuard | None = None,
        sees: Callable[[UnitOfWork, StoredResource], Awaitable[bool]] | None = None,
        names: Callable[[UnitOfWork, str], Awaitable[bool]] | None = None,
        narrow: Callable[[UnitOfWork, SearchQuery], Awaitable[SearchQuery]] | None = None,
        knows: Callable[[UnitOfWork, StoredResource], Awaitable[bool]] | None = None,
        exists: Callable[[UnitOfWork, StoredResource], Awaitable[bool]] | None = None,
        view: Callable[[UnitOfWork, StoredResource], Awaitable[StoredResource | None]] | None = None,
        other_bases: tuple[str, ...] = (),
        dry_run: bool = False,
    ) -> None:
        self.conn = conn
        self.dry_run = dry_run
        """Rolled back whatever happens (``$validate``): listeners record nothing outside it."""
        self.guard = guard
        """Checks the caller's own writes; what the server's rules write in :meth:`finish`
        (a Provenance, a signal) is the server's, and not checked against the caller."""
        self.sees = sees
        """Whether the caller may see a resource a conditional interaction matched: a match
        they may not see does not match for them, so it is never returned, changed, or told of."""
        self.view = view
        """A resource as the caller sees it (the view a read gives: a patient's log entry without
        what is kept from them, a plan without a blocked unit), or None when it is hidden."""
        self.narrow = narrow
        """The caller's conditional criteria as the access policy lets them search (a patient's
        kept to their compartment, ``_has`` refused)."""
        self.knows = knows
        """Whether a resource exists for the caller (whatever their scopes): a patient's
        reference to another patient's resource is answered as a reference to nothing."""
        self.exists = exists
        """Whether a live resource exists for the caller as a read of it answers (not when the
        read is 404: another patient's for a patient, another service's Subscription): a write
        then answers as for an id that does not exist (:meth:`_absent_for_caller`)."""
        self.names = names
        """Whether the caller may write about a patient: a reference by identifier resolves only
        to such a Patient (:mod:`fhirbridge.writes.references`)."""
        self.identity = identity
        self.now = now
        self.local_base = local_base
        self.bases = tuple(base.rstrip("/") for base in (local_base, *other_bases) if base)
        """Every base URL this server answers to: references under them are made relative."""
        self.listeners = listeners
        self.enrichers = enrichers
        self.events: list[WriteEvent] = []
        self.checks_kept: Any = None
        """What the write's checks keep between their calls (the access policy's facts about a
        patient); theirs to drop once the unit has written more (see ``events``)."""
        self._expected: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._expected_versions: dict[tuple[str, str, int], str] = {}
        self._deleted: list[tuple[str, str]] = []
        self._finishing = False
        """Set once the caller's own writes are done and the server's rules write (see :meth:`finish`)."""
        self.locations: dict[tuple[str, str], str] = {}
        """Where each resource sits in the request (``Bundle.entry[2].resource``), for error paths."""

    # -- the writes -------------------------------------------------------------------
    async def create(self, validated: ValidatedResource, resource_id: str | None = None) -> WriteResult:
        """Store version 1 of a new resource (R4 http.html#create).

        A transaction assigns ``resource_id`` itself, so that other entries can refer to it."""
        rid = resource_id or str(uuid.uuid4())
        validated = await self._normalised(validated)
        if self.guard is not None:
            await self.guard(self, "c", validated.resource_type, validated.resource, None)
        validated = await self._enrich(validated)
        record = await self._store_version(validated, rid, 1, previous=None, method="POST")
        return WriteResult("created", record)

    async def create_records(
        self,
        resource_type: str,
        resources: Sequence[tuple[str, dict[str, Any]]],
        *,
        index: Callable[[dict[str, Any], str | None], IndexRows] | None = None,
        pause: Callable[[], Awaitable[None]] | None = None,
    ) -> list[StoredResource]:
        """Store version 1 of many new resources, each with its id, in one statement per table
        (R4 http.html#create): the server's own records (the access log's AuditEvents) of a type
        whose references are records, not dependencies (:data:`UNCHECKED_REFERENCES`), holding
        no contained resources.  So there is nothing to normalise, link or check, and no caller
        to judge; each is stored as :meth:`create` stores it, its write event for the listeners.

        ``index`` gives a resource's index rows as :func:`extract_index` would, faster; ``pause``
        is awaited between resources, and between the pieces of a write that holds the event
        loop, where the caller may let others run."""
        if resource_type not in UNCHECKED_REFERENCES or self.guard is not None or self.enrichers:
            raise ValueError(f"{resource_type} resources are not the server's own records")
        made: list[tuple[dict[str, Any], NewVersion]] = []
        for resource_id, resource in resources:
            if "contained" in resource:
                raise ValueError("a record holds no contained resources")
            stored, record = self._new_version(resource_type, resource, resource_id, 1)
            rows = index(stored, self.local_base) if index else extract_index(resource_type, stored, self.local_base)
            made.append((stored, NewVersion(record, rows, [])))
            if pause is not None:
                await pause()
        pks = await versions.save_new(self.conn, [version for _, version in made], "POST", pause)
        written = []
        for (stored, (record, _, _)), pk in zip(made, pks, strict=True):
            record = replace(record, pk=pk)
            self.events.append(WriteEvent("create", record, None, self.identity, stored, by_server=self._finishing))
            written.append(record)
        return written

    async def update(
        self,
        validated: ValidatedResource,
        resource_id: str,
        *,
        if_match: int | None = None,
        method: Literal["PUT", "PATCH"] = "PUT",
    ) -> WriteResult:
        """Store the next version (R4 http.html#update); creates when the id is new.

        ``if_match`` is the version the client last saw: anything else is 412 (R4
        http.html#concurrency).  An update that changes nothing but server fields keeps
        the current version, so repeated syncs do not pile up identical versions.  ``method``:
        how the history tells it was made (a patch is processed as an update, R4 http.html#patch)."""
        # Normalised and enriched before the comparison, so that a re-sent body is "unchanged".
        validated = await self._enrich(await self._normalised(validated))
        lock = self.conn.dialect.lock_for_no_key_update
        current = await store.read_current(self.conn, validated.resource_type, resource_id, lock=lock)
        if self.guard is not None:
            await self.guard(self, "u", validated.resource_type, validated.resource, current)
        if if_match is not None and (current is None or current.deleted or current.version != if_match):
            seen = "no version" if current is None or current.deleted else f"version {current.version}"
            raise precondition_failed(
                f"If-Match asked for version {if_match} of {validated.resource_type}/{resource_id}, but it has {seen}"
            )
        if current is None:
            record = await self._store_version(validated, resource_id, 1, previous=None, method=method)
            return WriteResult("created", record)
        if (
            not current.deleted
            and current.content is not None
            and same_content(loads(current.content), validated.resource)
        ):
            return WriteResult("unchanged", current)
        record = await self._store_version(validated, resource_id, current.version + 1, previous=current, method=method)
        return WriteResult("created" if current.deleted else "updated", record)

    async def patch_base(self, resource_type: str, resource_id: str) -> StoredResource:
        """The current version a patch applies to (R4 http.html#patch), locked for the update
        that follows.  The caller must see it whole and may change it *before* the patch is
        applied: a ``test`` operation would otherwise tell of content hidden from them.  What
        does not exist for them (nothing, a deletion, another patient's resource, another
        service's Subscription) is a 404."""
        await self._type_rules_first("u", resource_type)
        lock = self.conn.dialect.lock_for_no_key_update
        current = await store.read_current(self.conn, resource_type, resource_id, lock=lock)
        absent = not_found(f"{resource_type}/{resource_id} does not exist: there is nothing to patch")
        if current is None or current.deleted or current.content is None or await self._absent_for_caller(current):
            raise absent
        if self.guard is not None and self.view is not None:
            content = loads(current.content)
            if await self.view(self, current) is None:
                # the rules judge it too, so that the access log names whom the attempt was
                # about (as for a refused PUT); the answer stays this one, saying no more
                with contextlib.suppress(FhirError):
                    await self.guard(self, "u", resource_type, content, current)
                raise FhirError(403, [error("forbidden", f"You may not change {resource_type}/{resource_id}")])
            await self.guard(self, "u", resource_type, content, current)
        return current

    async def delete(self, resource_type: str, resource_id: str) -> WriteResult:
        """Mark a resource deleted (R4 http.html#delete); history keeps every version."""
        await self._type_rules_first("d", resource_type)
        lock = self.conn.dialect.lock_for_update
        current = await store.read_current(self.conn, resource_type, resource_id, lock=lock)
        if current is None or current.deleted or current.pk is None:
            return WriteResult("absent", None)  # whoever's it was: nothing to delete tells of nobody
        if await self._absent_for_caller(current):
            return WriteResult("absent", None)  # what a read of answers 404 does not exist for them
        if self.guard is not None:
            await self.guard(self, "d", resource_type, None, current)
        record = StoredResource(resource_type, resource_id, current.version + 1, self.now, True, None, pk=current.pk)
        await versions.save_deletion(self.conn, record, current.pk)
        self._deleted.append((resource_type, resource_id))
        self.events.append(WriteEvent("delete", record, current, self.identity, by_server=self._finishing))
        return WriteResult("deleted", record)

    async def _type_rules_first(self, permission: Literal["u", "d"], resource_type: str) -> None:
        """What the type's rules refuse a user, system or service (the scope; a type only
        services write, such as Group or Subscription) is refused before the resource is looked
        for, alike whether or not it exists, as a PUT is: a 403 for one id and a 404 (or a
        200) for another would tell which ids exist, of a type whose reads answer 404.  A
        patient's token is judged on the resource (another patient's does not exist for it)."""
        if self.guard is not None and self.identity.kind != "patient":
            await self.guard(self, permission, resource_type, None, None)

    async def _absent_for_caller(self, record: StoredResource | None) -> bool:
        """Whether a live resource is one whose read answers the caller 404 (another patient's
        for a patient or relative, another service's Subscription, a cohort, a unit's record
        out of reach): a patch or delete of it answers as for an id that does not exist, so
        that no write tells whether such an id exists (security review 21)."""
        if record is None or record.deleted or self.guard is None or self.exists is None:
            return False
        return not await self.exists(self, record)

    async def read(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version as this transaction sees it."""
        return await store.read_current(self.conn, resource_type, resource_id)

    # -- what reference normalisation asks (writes.references.ReferenceResolver) -------------
    async def carrying(self, resource_type: str, system: str | None, value: str) -> list[str]:
        """Ids of the live resources of a type that carry the identifier (compared in full)."""
        rows = await store.carrying_identifier(
            self.conn, resource_type, indexed(system), indexed(value) or value, limit=IDENTIFIER_MATCHES
        )
        return [record.resource_id for record in rows if _carries(record, system, value)]

    async def has_version(self, reference: str) -> bool:
        """Whether a local versioned reference names a version this transaction can see."""
        parsed = parse_reference(reference)
        if parsed is None or not parsed.resource_type or not parsed.resource_id or parsed.version is None:
            return False
        version = _version(parsed.version)
        return await store.read_version(self.conn, parsed.resource_type, parsed.resource_id, version) is not None

    async def may_refer(self, resource_type: str, resource_id: str) -> bool:
        """Whether the resource exists for the caller (the server's own writes reach everything)."""
        if self.guard is None or self.knows is None:
            return True
        record = await store.read_current(self.conn, resource_type, resource_id)
        return record is not None and await self.knows(self, record)

    async def caller_knows(self, record: StoredResource) -> bool:
        """Whether the unit's caller may know of a resource, also while the server's own rules
        run (what a rule's refusal may name)."""
        if self.identity.unrestricted or self.knows is None:
            return True
        # one seen only without a blocked unit's parts is not named (ninth review: a refusal
        # naming the fixed care contact the view leaves out)
        return await self.knows(self, record) and (self.sees is None or await self.sees(self, record))

    async def caller_may_name(self, patient_id: str) -> bool:
        """Whether the unit's caller may write about the patient, also while the server's own
        rules run (what a rule's refusal may tell them)."""
        if self.identity.unrestricted or self.names is None:
            return True
        return await self.names(self, patient_id)

    async def may_name(self, patient_id: str) -> bool:
        """Whether the caller may write about the patient (the server's own writes may)."""
        if self.guard is None or self.names is None:
            return True
        return await self.names(self, patient_id)

    # -- conditional interactions ------------------------------------------------------
    async def create_match(self, resource_type: str, criteria: list[tuple[str, str]]) -> str | None:
        """The one resource a conditional create's ``If-None-Exist`` matches (R4
        http.html#ccreate), or None: several are 412.

        A conditional create is a create: whether the caller may create this type at all (an
        AuditEvent, written by the server only, is 405) is asked before anything is matched, so
        that no match answers what the caller could not have written."""
        if self.guard is not None:
            await self.guard(self, "c", resource_type, None, None)
        found = await self.find(resource_type, criteria)
        if len(found) > 1:
            raise precondition_failed(
                f"If-None-Exist matched several {resource_type} resources; make the criteria more selective",
                "If-None-Exist",
            )
        return found[0] if found else None

    async def shown(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version as the caller sees it (what a conditional create that matched
        answers: the same view a read gives them)."""
        record = await self.read(resource_type, resource_id)
        if record is None or self.guard is None or self.view is None:
            return record
        return await self.view(self, record)

    async def find(self, resource_type: str, criteria: list[tuple[str, str]], *, limit: int = 2) -> list[str]:
        """Ids matching the criteria of a conditional interaction (R4 http.html#cond-update).

        The criteria are parsed strictly (an unknown parameter must not widen the match) and
        an advisory lock on them serialises concurrent conditional writes with the same
        criteria, so twenty identical conditional creates leave exactly one resource."""
        query = parse_query(resource_type, criteria, strict=True, default_count=limit, max_count=limit)
        if not query.clauses:
            raise invalid([error("required", "A conditional interaction needs search criteria", "criteria")])
        judged = self.guard is not None and self.sees is not None
        if judged and self.narrow is not None:
            query = await self.narrow(self, query)
        key = resource_type + "?" + "&".join(f"{k}={v}" for k, v in sorted(criteria))
        await self.conn.advisory_lock(key)
        scanned = CONDITIONAL_SCAN if judged else limit
        sql, args = compile_match_ids(query, self.conn.dialect, self.local_base, limit=scanned)
        found = [row[0] for row in await self.conn.fetch(sql, *args)]
        if not judged or self.sees is None:
            return found
        visible: list[str] = []
        for resource_id in found:  # what the caller may not see does not match: no answer tells of it
            record = await store.read_current(self.conn, resource_type, resource_id)
            if record is not None and await self.sees(self, record):
                visible.append(resource_id)
                if len(visible) == limit:
                    break
        return visible

    async def find_one(
        self, resource_type: str, criteria: list[tuple[str, str]], *, several: str, expression: str = "url"
    ) -> str | None:
        """The one id a conditional delete or patch acts on (R4 http.html#cond-delete,
        #patch), None when nothing matches; several matches are 412 saying ``several``."""
        found = await self.find(resource_type, criteria)
        if len(found) > 1:
            raise precondition_failed(several, expression)
        return found[0] if found else None

    async def matches(self, resource_type: str, criteria: list[tuple[str, str]], resource_id: str) -> bool:
        """Whether the resource, as this transaction sees it, matches search criteria (a
        Subscription's, R4 subscription.html)."""
        query = parse_query(resource_type, [*criteria, ("_id", resource_id)], strict=True, default_count=1, max_count=1)
        sql, args = compile_match_ids(query, self.conn.dialect, self.local_base, limit=1)
        return bool(await self.conn.fetch(sql, *args))

    async def conditional_update_target(
        self, resource_type: str, criteria: list[tuple[str, str]], body_id: str | None
    ) -> str:
        """The id a conditional update writes to (R4 http.html#cond-update).

        One match: that resource (a body id must agree).  No match: a new resource, with the
        body's id if it has one and that id is free.  Several matches: 412."""
        found = await self.find(resource_type, criteria)
        if len(found) > 1:
            raise precondition_failed(
                f"The criteria match several {resource_type} resources; make them more selective", "url"
            )
        if found:
            if body_id is not None and body_id != found[0]:
                raise bad_request(
                    f"The criteria match {resource_type}/{found[0]} but the resource has id {body_id}",
                    f"{resource_type}.id",
                )
            return found[0]
        if body_id is None:
            return str(uuid.uuid4())
        existing = await self.read(resource_type, body_id)
        if existing is not None and not existing.deleted:
            if self.guard is not None and self.sees is not None and not await self.sees(self, existing):
                if await self._absent_for_caller(existing):
                    # what does not exist for them is answered as a free id is: by the update's
                    # own rules, which refuse it (another service's Subscription: 405, as any)
                    return body_id
                # a resource the caller may not see is not told of
                raise FhirError(403, [error("forbidden", f"You may not write {resource_type}/{body_id}")])
            raise conflict(
                f"Nothing matches the criteria, but {resource_type}/{body_id} exists and does not match them; "
                "a conditional update never overwrites it",
                f"{resource_type}.id",
            )
        return body_id

    # -- before commit --------------------------------------------------------------------
    async def finish(self) -> None:
        """Let the listeners check and record their part, then check referential integrity
        (of what the listeners wrote too)."""
        unknown = await self._unknown_to_caller() if self.guard is not None else set()
        self.guard = None
        self._finishing = True
        for listener in self.listeners:  # each sees what the ones before it wrote
            await listener(self, list(self.events))
        issues = await self._missing_targets(unknown)
        if issues:
            raise invalid(issues, status=422)
        for resource_type, resource_id in self._deleted:
            referring = await store.referrers(self.conn, resource_type, resource_id)
            if referring:
                names = ", ".join(f"{t}/{i} ({path})" for t, i, path in referring)
                if not self.identity.unrestricted:  # other patients' resources are not named
                    names = "other resources"
                raise conflict(
                    f"{resource_type}/{resource_id} cannot be deleted: it is still referred to by {names}. "
                    "Delete or change those first."
                )

    # -- internals ---------------------------------------------------------------------
    async def _enrich(self, validated: ValidatedResource) -> ValidatedResource:
        for enrich in self.enrichers:
            validated = await enrich(self, validated)
        return validated

    async def _store_version(
        self,
        validated: ValidatedResource,
        resource_id: str,
        version: int,
        *,
        previous: StoredResource | None,
        method: str,
    ) -> StoredResource:
        resource_type = validated.resource_type
        resource, record = self._new_version(resource_type, validated.resource, resource_id, version)
        pk = await versions.save_version(
            self.conn,
            record,
            previous_pk=previous.pk if previous is not None else None,
            method=method,
            rows=extract_index(resource_type, resource, self.local_base),
            links=self._links(validated, resource_type, resource_id),
        )
        stored = replace(record, pk=pk)
        action: WriteAction = "create" if previous is None or previous.deleted else "update"
        self.events.append(WriteEvent(action, stored, previous, self.identity, resource, by_server=self._finishing))
        return stored

    async def _normalised(self, validated: ValidatedResource) -> ValidatedResource:
        """The resource with its references normalised, but those of a type whose references are
        records of what was there (:data:`UNCHECKED_REFERENCES`): nothing they name is looked up,
        so that a client's write of one is refused by the guard (405), whatever it names (an
        AuditEvent's request id is an identifier of no resource)."""
        if validated.resource_type in UNCHECKED_REFERENCES:
            return validated
        return await normalise_references(validated, self)

    def _new_version(
        self, resource_type: str, resource: dict[str, Any], resource_id: str, version: int
    ) -> tuple[dict[str, Any], StoredResource]:
        """The version as stored (the server's fields set, R4 resource.html#Meta) and its record."""
        stored = with_server_fields(resource, resource_id, version, self.now)
        return stored, StoredResource(resource_type, resource_id, version, self.now, False, canonical_bytes(stored))

    def _links(self, validated: ValidatedResource, resource_type: str, resource_id: str) -> list[tuple[str, str, str]]:
        links: list[tuple[str, str, str]] = []
        if resource_type in UNCHECKED_REFERENCES:
            return links
        for found in validated.references:
            parsed = found.parsed
            if parsed.kind != "local" or parsed.resource_type is None or parsed.resource_id is None:
                continue
            if (parsed.resource_type, parsed.resource_id) != (resource_type, resource_id):
                where = self._where(resource_type, resource_id, found.path) + ".reference"
                if parsed.version is not None:
                    # A version outlives the resource's deletion: it must exist, and is no dependency.
                    self._expected_versions[(parsed.resource_type, parsed.resource_id, _version(parsed.version))] = (
                        where
                    )
                    continue
                self._expected[(parsed.resource_type, parsed.resource_id)].append(where)
            elif parsed.version is not None:
                continue
            links.append((found.path, parsed.resource_type, parsed.resource_id))
        return links

    def _where(self, resource_type: str, resource_id: str, path: str) -> str:
        prefix = self.locations.get((resource_type, resource_id))
        return prefix + path[len(resource_type) :] if prefix else path

    async def _unknown_to_caller(self) -> set[tuple[str, str]]:
        """The targets that do not exist for the caller: for a patient's (or relative's) token
        every reference to another patient's resource, for anyone a reference to a version of a
        resource they may not see (answered as missing, so a write cannot tell of them)."""
        if self.knows is None or self.identity.unrestricted:
            return set()
        written = {(event.record.resource_type, event.record.resource_id) for event in self.events}
        versioned = [(t, i) for t, i, _ in self._expected_versions]
        # A patient's every reference; anyone's reference to a version (which would count versions).
        targets = [*self._expected, *versioned] if self.identity.kind == "patient" else versioned
        unknown = set()
        for resource_type, rid in targets:
            if resource_type not in STORED_TYPES or (resource_type, rid) in written:
                continue
            record = await store.read_current(self.conn, resource_type, rid)
            if record is not None and not record.deleted and not await self.knows(self, record):
                unknown.add((resource_type, rid))
        return unknown

    async def _missing_targets(self, unknown: set[tuple[str, str]]) -> list[Issue]:
        stored = {target for target in self._expected if target[0] in STORED_TYPES}
        live = await versions.live_targets(self.conn, stored) - unknown
        issues: list[Issue] = []
        for (resource_type, rid), places in sorted(self._expected.items()):
            if resource_type not in STORED_TYPES:
                message = (
                    f"{resource_type}/{rid} is a local reference, but this server does not store "
                    f"{resource_type} resources; use an absolute URL or Reference.identifier"
                )
            elif (resource_type, rid) not in live:
                message = f"{resource_type}/{rid} does not exist on this server"
            else:
                continue
            issues.extend(error("not-found", message, where) for where in places)
        for (resource_type, rid, version), where in self._expected_versions.items():
            if resource_type in STORED_TYPES and (
                (resource_type, rid) in unknown
                or await store.read_version(self.conn, resource_type, rid, version) is None
            ):
                issues.append(error("not-found", f"{resource_type}/{rid} has no version {version}", where))
        return issues


def _carries(record: StoredResource, system: str | None, value: str) -> bool:
    identifiers = loads(record.content or b"{}").get("identifier")
    return any(
        isinstance(identifier, dict)
        and identifier.get("value") == value
        and (system is None or identifier.get("system") == system)
        for identifier in (identifiers if isinstance(identifiers, list) else [])
    )


def _version(text: str) -> int:
    """A version number from a reference; -1 (which no version has) for anything else."""
    return int(text) if text.isdigit() and int(text) <= MAX_VERSION else -1

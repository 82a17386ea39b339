"""Writing a version in one round trip, and checking reference targets in one query.

A write changes the current row, appends to history, and replaces the resource's search
index and links.  How is the engine's business: each connection carries its own version
writer (``conn.versions``: :mod:`.versions_postgres`, one statement of data-modifying CTEs;
:mod:`.versions_sqlite`, one call on the writer connection).  Either way a create costs one
round trip instead of a dozen (see docs/benchmarks.md), and so do many new resources at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fhirbridge.search.index import IndexRows
from fhirbridge.storage.database import Connection
from fhirbridge.storage.records import StoredResource
from fhirbridge.storage.version_rows import Link, NewVersion

__all__ = ["Link", "NewVersion", "live_targets", "save_deletion", "save_new", "save_version"]


async def save_version(
    conn: Connection,
    record: StoredResource,
    *,
    previous_pk: int | None,
    method: str,
    rows: IndexRows,
    links: list[Link],
) -> int:
    """Make ``record`` the current version: insert or replace the row, append it to history,
    and replace its index and links.  Returns the row's key; a concurrent insert of the same
    id raises :class:`~fhirbridge.storage.database.WriteRace`."""
    return await conn.versions.save(record, previous_pk, method, rows, links)


async def save_new(
    conn: Connection,
    versions: Sequence[NewVersion],
    method: str,
    pause: Callable[[], Awaitable[None]] | None = None,
) -> list[int]:
    """Store new resources as :func:`save_version` stores each, with one statement per table
    for all of them (the access log's batches).  Returns their rows' keys, in order; an id
    already taken raises :class:`~fhirbridge.storage.database.WriteRace`.  ``pause`` is awaited
    where a long write would hold the event loop (SQLite's, between pieces of
    :data:`~fhirbridge.storage.versions_sqlite.PIECE`), so that the caller may let others run."""
    if len(versions) == 1:  # the statement for one version costs less
        record, rows, links = versions[0]
        return [await conn.versions.save(record, None, method, rows, links)]
    if not versions:
        return []
    return await conn.versions.create_many(versions, method, pause)


async def save_deletion(conn: Connection, record: StoredResource, pk: int) -> None:
    """Mark the resource deleted, append the deletion to history, drop its index and links."""
    await conn.versions.delete(record, pk)


async def live_targets(conn: Connection, targets: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (type, id) pairs exist and are not deleted.  On PostgreSQL the rows stay
    key-share-locked until commit, so a concurrent delete cannot remove a target while a
    reference to it is being written (the way a foreign key protects its target)."""
    if not targets:
        return set()
    return await conn.versions.live(targets)

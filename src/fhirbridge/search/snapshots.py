"""Snapshots of sorted search results (R4 search.html#paging).

A sorted search that spans several pages keeps its result as an ordered list of resource
keys; every page reads from that list, so the pages neither skip nor repeat a resource while
others write (a resource deleted meanwhile is left out; a changed one shows its new content).
Snapshots live for :data:`SNAPSHOT_LIFETIME_US` and are swept when new ones are made.
"""

from __future__ import annotations

import uuid

from fhirbridge.search.query import SearchQuery
from fhirbridge.search.sql import SELECT_COLUMNS, compile_snapshot
from fhirbridge.storage.database import Connection, Row

SNAPSHOT_LIFETIME_US = 60 * 60 * 1_000_000


async def create_snapshot(conn: Connection, query: SearchQuery, local_base: str | None, now: int) -> tuple[str, int]:
    """Keep the whole sorted result; returns the snapshot id and the number of matches."""
    await conn.execute("DELETE FROM search_snapshots WHERE created < $1", now - SNAPSHOT_LIFETIME_US)
    snapshot_id = uuid.uuid4().hex
    await conn.execute(
        "INSERT INTO search_snapshots (snapshot_id, res_type, created, total) VALUES ($1, $2, $3, 0)",
        snapshot_id,
        query.resource_type,
        now,
    )
    sql, args = compile_snapshot(query, conn.dialect, local_base, snapshot_id)
    await conn.execute(sql, *args)
    total = int(await conn.fetchval("SELECT COUNT(*) FROM search_snapshot_rows WHERE snapshot_id = $1", snapshot_id))
    await conn.execute("UPDATE search_snapshots SET total = $2 WHERE snapshot_id = $1", snapshot_id, total)
    return snapshot_id, total


async def snapshot_total(conn: Connection, snapshot_id: str, resource_type: str) -> int | None:
    """The number of matches of a live snapshot of ``resource_type``; None when it has expired."""
    total = await conn.fetchval(
        "SELECT total FROM search_snapshots WHERE snapshot_id = $1 AND res_type = $2", snapshot_id, resource_type
    )
    return None if total is None else int(total)


async def snapshot_page(conn: Connection, snapshot_id: str, after: int, limit: int) -> list[tuple[int, Row]]:
    """(position, resource row) of the live resources after position ``after``."""
    rows = await conn.fetch(
        f"SELECT s.position, {SELECT_COLUMNS} FROM search_snapshot_rows s JOIN resources r ON r.pk = s.res_pk "
        "WHERE s.snapshot_id = $1 AND s.position > $2 AND NOT r.deleted ORDER BY s.position LIMIT $3",
        snapshot_id,
        after,
        limit,
    )
    return [(int(row[0]), row[1:]) for row in rows]


async def snapshot_row(conn: Connection, snapshot_id: str, res_pk: int) -> tuple[int, Row] | None:
    """The position of a live resource's row in a snapshot, and the resource; None when there is none."""
    row = await conn.fetchrow(
        f"SELECT s.position, {SELECT_COLUMNS} FROM search_snapshot_rows s JOIN resources r ON r.pk = s.res_pk "
        "WHERE s.snapshot_id = $1 AND s.res_pk = $2 AND NOT r.deleted",
        snapshot_id,
        res_pk,
    )
    return None if row is None else (int(row[0]), row[1:])

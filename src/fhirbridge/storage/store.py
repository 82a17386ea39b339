"""FHIR-shaped SQL: current versions, history, search index rows and links.

Every function takes a :class:`~fhirbridge.storage.database.Connection`, so the write path
can run several of them in one transaction.  The statements are the same on both engines.
"""

from __future__ import annotations

from collections.abc import Iterable

from fhirbridge.search.index import IndexRows
from fhirbridge.storage.database import Connection
from fhirbridge.storage.records import HistoryEntry, StoredResource

_CURRENT = "SELECT pk, version, last_updated, deleted, content FROM resources WHERE res_type = $1 AND res_id = $2"


async def read_current(
    conn: Connection, resource_type: str, resource_id: str, *, lock: bool = False
) -> StoredResource | None:
    """The current version (deleted or not); ``lock`` holds the row until the transaction ends."""
    sql = _CURRENT + (conn.dialect.lock_for_update if lock else "")
    row = await conn.fetchrow(sql, resource_type, resource_id)
    if row is None:
        return None
    return StoredResource(resource_type, resource_id, row[1], row[2], bool(row[3]), row[4], pk=row[0])


async def read_version(conn: Connection, resource_type: str, resource_id: str, version: int) -> StoredResource | None:
    row = await conn.fetchrow(
        "SELECT version, last_updated, method, content FROM resource_versions "
        "WHERE res_type = $1 AND res_id = $2 AND version = $3",
        resource_type,
        resource_id,
        version,
    )
    if row is None:
        return None
    return StoredResource(resource_type, resource_id, row[0], row[1], row[2] == "DELETE", row[3])


async def insert_resource(conn: Connection, record: StoredResource) -> int:
    """Insert the first row of a new resource; a concurrent insert of the same id raises WriteRace."""
    pk: int = await conn.fetchval(
        "INSERT INTO resources (res_type, res_id, version, last_updated, deleted, content) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING pk",
        record.resource_type,
        record.resource_id,
        record.version,
        record.last_updated,
        record.deleted,
        record.content,
    )
    return pk


async def replace_resource(conn: Connection, pk: int, record: StoredResource) -> None:
    await conn.execute(
        "UPDATE resources SET version = $2, last_updated = $3, deleted = $4, content = $5 WHERE pk = $1",
        pk,
        record.version,
        record.last_updated,
        record.deleted,
        record.content,
    )


async def append_version(conn: Connection, record: StoredResource, method: str) -> None:
    """Add a version to history; the unique key refuses a second writer of the same version."""
    await conn.execute(
        "INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        record.resource_type,
        record.resource_id,
        record.version,
        record.last_updated,
        method,
        record.content,
    )


async def clear_index(conn: Connection, pk: int) -> None:
    for table in ("idx_token", "idx_string", "idx_date", "idx_reference", "idx_uri", "resource_links"):
        await conn.execute(f"DELETE FROM {table} WHERE res_pk = $1", pk)


async def write_index(
    conn: Connection, pk: int, resource_type: str, rows: IndexRows, links: Iterable[tuple[str, str, str]]
) -> None:
    """Insert a resource's search index rows and its local links (path, type, id)."""
    await conn.executemany(
        "INSERT INTO idx_token (res_pk, res_type, param, system, code, text) VALUES ($1, $2, $3, $4, $5, $6)",
        [(pk, resource_type, *row) for row in rows.token],
    )
    await conn.executemany(
        "INSERT INTO idx_string (res_pk, res_type, param, normalized, exact, sortable) VALUES ($1, $2, $3, $4, $5, $6)",
        [(pk, resource_type, *row) for row in rows.string],
    )
    await conn.executemany(
        "INSERT INTO idx_date (res_pk, res_type, param, low, high) VALUES ($1, $2, $3, $4, $5)",
        [(pk, resource_type, *row) for row in rows.date],
    )
    await conn.executemany(
        "INSERT INTO idx_reference (res_pk, res_type, param, target_type, target_id, target_url) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [(pk, resource_type, *row) for row in rows.reference],
    )
    await conn.executemany(
        "INSERT INTO idx_uri (res_pk, res_type, param, value) VALUES ($1, $2, $3, $4)",
        [(pk, resource_type, *row) for row in rows.uri],
    )
    await conn.executemany(
        "INSERT INTO resource_links (res_pk, path, target_type, target_id) VALUES ($1, $2, $3, $4)",
        [(pk, *link) for link in links],
    )


async def live_ids(conn: Connection, resource_type: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` exist and are not deleted; the rows stay share-locked in a transaction,
    so that a concurrent delete cannot remove a target while a reference to it is written."""
    rows = await conn.fetch(
        f"SELECT res_id FROM resources WHERE res_type = $1 AND res_id {conn.dialect.in_list('$2')} "
        f"AND NOT deleted{conn.dialect.lock_for_share}",
        resource_type,
        ids,
    )
    return {row[0] for row in rows}


async def referrers(
    conn: Connection, resource_type: str, resource_id: str, *, limit: int = 10
) -> list[tuple[str, str, str]]:
    """Live resources that refer to this one: (type, id, element path)."""
    rows = await conn.fetch(
        "SELECT r.res_type, r.res_id, l.path FROM resource_links l JOIN resources r ON r.pk = l.res_pk "
        "WHERE l.target_type = $1 AND l.target_id = $2 AND NOT r.deleted "
        "AND NOT (r.res_type = $1 AND r.res_id = $2) ORDER BY r.pk LIMIT $3",
        resource_type,
        resource_id,
        limit,
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def history(
    conn: Connection,
    *,
    resource_type: str | None,
    resource_id: str | None,
    since: int | None,
    before_seq: int | None,
    limit: int,
) -> list[HistoryEntry]:
    """Versions newest first (R4 http.html#history), after ``since``, below the ``before_seq`` cursor."""
    conditions: list[str] = []
    args: list[object] = []
    for column, value in (("res_type", resource_type), ("res_id", resource_id)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    if since is not None:
        args.append(since)
        conditions.append(f"last_updated >= ${len(args)}")
    if before_seq is not None:
        args.append(before_seq)
        conditions.append(f"seq < ${len(args)}")
    args.append(limit)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    rows = await conn.fetch(
        "SELECT seq, res_type, res_id, version, last_updated, method, content FROM resource_versions "
        f"{where}ORDER BY seq DESC LIMIT ${len(args)}",
        *args,
    )
    return [HistoryEntry(*row) for row in rows]

"""Writing a version in one round trip, and checking reference targets in one query.

A write changes the current row, appends to history, and replaces the resource's search
index and links.  On PostgreSQL that is one statement of data-modifying CTEs with the index
rows passed as arrays; on SQLite it is one call on the writer connection.  Either way a
create costs one round trip instead of a dozen (see docs/benchmarks.md).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable

from fhirbridge.search.index import IndexRows
from fhirbridge.storage.database import Connection
from fhirbridge.storage.records import StoredResource
from fhirbridge.storage.schema import INDEX_TABLES
from fhirbridge.storage.sqlite import SqliteConnection

Link = tuple[str, str, str]  # element path, target type, target id


def _columns(rows: Iterable[tuple[object, ...]], width: int) -> list[list[object]]:
    columns: list[list[object]] = [[] for _ in range(width)]
    for row in rows:
        for index, value in enumerate(row):
            columns[index].append(value)
    return columns


_PG_INDEX_INSERTS = """
, tk AS (INSERT INTO idx_token (res_pk, res_type, param, system, code, text)
         SELECT r.pk, $1, x.* FROM r, unnest($7::text[], $8::text[], $9::text[], $10::text[]) AS x)
, st AS (INSERT INTO idx_string (res_pk, res_type, param, normalized, exact, sortable)
         SELECT r.pk, $1, x.* FROM r, unnest($11::text[], $12::text[], $13::text[], $14::text[]) AS x)
, dt AS (INSERT INTO idx_date (res_pk, res_type, param, low, high)
         SELECT r.pk, $1, x.* FROM r, unnest($15::text[], $16::bigint[], $17::bigint[]) AS x)
, rf AS (INSERT INTO idx_reference (res_pk, res_type, param, target_type, target_id, target_url)
         SELECT r.pk, $1, x.* FROM r, unnest($18::text[], $19::text[], $20::text[], $21::text[]) AS x)
, ur AS (INSERT INTO idx_uri (res_pk, res_type, param, value)
         SELECT r.pk, $1, x.* FROM r, unnest($22::text[], $23::text[]) AS x)
, ln AS (INSERT INTO resource_links (res_pk, path, target_type, target_id)
         SELECT r.pk, x.* FROM r, unnest($24::text[], $25::text[], $26::text[]) AS x)
SELECT pk FROM r
"""
_PG_VERSION = """
, v AS (INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content)
        VALUES ($1, $2, $3, $4, $6, $5))
"""
_PG_CREATE = (
    "WITH r AS (INSERT INTO resources (res_type, res_id, version, last_updated, deleted, content) "
    "VALUES ($1, $2, $3, $4, false, $5) RETURNING pk)" + _PG_VERSION + _PG_INDEX_INSERTS
)
_PG_CLEAR = "".join(f", d_{table} AS (DELETE FROM {table} WHERE res_pk = $27)\n" for table in INDEX_TABLES)
_PG_REPLACE = (
    "WITH r AS (UPDATE resources SET version = $3, last_updated = $4, deleted = false, content = $5 "
    "WHERE pk = $27 RETURNING pk)" + _PG_VERSION + _PG_CLEAR + _PG_INDEX_INSERTS
)
_PG_DELETE = (
    "WITH r AS (UPDATE resources SET version = $3, last_updated = $4, deleted = true, content = NULL "
    "WHERE pk = $5 RETURNING pk)\n"
    ", v AS (INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content) "
    "VALUES ($1, $2, $3, $4, 'DELETE', NULL))\n"
    + "".join(f", d_{table} AS (DELETE FROM {table} WHERE res_pk = $5)\n" for table in INDEX_TABLES)
    + "SELECT pk FROM r"
)


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
    if isinstance(conn, SqliteConnection):
        return await conn.call(_sqlite_save, record, previous_pk, method, rows, links)
    args: list[object] = [
        record.resource_type,
        record.resource_id,
        record.version,
        record.last_updated,
        record.content,
        method,
        *_columns(rows.token, 4),
        *_columns(rows.string, 4),
        *_columns(rows.date, 3),
        *_columns(rows.reference, 4),
        *_columns(rows.uri, 2),
        *_columns(links, 3),
    ]
    if previous_pk is None:
        pk: int = await conn.fetchval(_PG_CREATE, *args)
    else:
        pk = await conn.fetchval(_PG_REPLACE, *args, previous_pk)
    return pk


async def save_deletion(conn: Connection, record: StoredResource, pk: int) -> None:
    """Mark the resource deleted, append the deletion to history, drop its index and links."""
    if isinstance(conn, SqliteConnection):
        await conn.call(_sqlite_delete, record, pk)
        return
    await conn.fetchval(_PG_DELETE, record.resource_type, record.resource_id, record.version, record.last_updated, pk)


def _sqlite_clear(raw: sqlite3.Connection, pk: int) -> None:
    for table in INDEX_TABLES:
        raw.execute(f"DELETE FROM {table} WHERE res_pk = ?", (pk,))


def _sqlite_save(
    raw: sqlite3.Connection,
    record: StoredResource,
    previous_pk: int | None,
    method: str,
    rows: IndexRows,
    links: list[Link],
) -> int:
    head = (record.version, record.last_updated, record.content)
    if previous_pk is None:
        cursor = raw.execute(
            "INSERT INTO resources (res_type, res_id, version, last_updated, deleted, content) "
            "VALUES (?, ?, ?, ?, 0, ?)",
            (record.resource_type, record.resource_id, *head),
        )
        pk = int(cursor.lastrowid or 0)
    else:
        pk = previous_pk
        raw.execute(
            "UPDATE resources SET version = ?, last_updated = ?, deleted = 0, content = ? WHERE pk = ?", (*head, pk)
        )
        _sqlite_clear(raw, pk)
    raw.execute(
        "INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (record.resource_type, record.resource_id, record.version, record.last_updated, method, record.content),
    )
    kind = record.resource_type
    raw.executemany(
        "INSERT INTO idx_token (res_pk, res_type, param, system, code, text) VALUES (?, ?, ?, ?, ?, ?)",
        [(pk, kind, *row) for row in rows.token],
    )
    raw.executemany(
        "INSERT INTO idx_string (res_pk, res_type, param, normalized, exact, sortable) VALUES (?, ?, ?, ?, ?, ?)",
        [(pk, kind, *row) for row in rows.string],
    )
    raw.executemany(
        "INSERT INTO idx_date (res_pk, res_type, param, low, high) VALUES (?, ?, ?, ?, ?)",
        [(pk, kind, *row) for row in rows.date],
    )
    raw.executemany(
        "INSERT INTO idx_reference (res_pk, res_type, param, target_type, target_id, target_url) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(pk, kind, *row) for row in rows.reference],
    )
    raw.executemany(
        "INSERT INTO idx_uri (res_pk, res_type, param, value) VALUES (?, ?, ?, ?)",
        [(pk, kind, *row) for row in rows.uri],
    )
    raw.executemany(
        "INSERT INTO resource_links (res_pk, path, target_type, target_id) VALUES (?, ?, ?, ?)",
        [(pk, *link) for link in links],
    )
    return pk


def _sqlite_delete(raw: sqlite3.Connection, record: StoredResource, pk: int) -> None:
    raw.execute(
        "UPDATE resources SET version = ?, last_updated = ?, deleted = 1, content = NULL WHERE pk = ?",
        (record.version, record.last_updated, pk),
    )
    raw.execute(
        "INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content) "
        "VALUES (?, ?, ?, ?, 'DELETE', NULL)",
        (record.resource_type, record.resource_id, record.version, record.last_updated),
    )
    _sqlite_clear(raw, pk)


async def live_targets(conn: Connection, targets: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (type, id) pairs exist and are not deleted.  On PostgreSQL the rows stay
    key-share-locked until commit, so a concurrent delete cannot remove a target while a
    reference to it is being written (the way a foreign key protects its target)."""
    if not targets:
        return set()
    if isinstance(conn, SqliteConnection):
        return await conn.call(_sqlite_live, targets)
    types, ids = _columns(sorted(targets), 2)
    rows = await conn.fetch(
        "SELECT r.res_type, r.res_id FROM resources r "
        "JOIN unnest($1::text[], $2::text[]) AS x(t, i) ON r.res_type = x.t AND r.res_id = x.i "
        "WHERE NOT r.deleted FOR KEY SHARE OF r",
        types,
        ids,
    )
    return {(row[0], row[1]) for row in rows}


def _sqlite_live(raw: sqlite3.Connection, targets: set[tuple[str, str]]) -> set[tuple[str, str]]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for resource_type, resource_id in targets:
        by_type[resource_type].append(resource_id)
    found: set[tuple[str, str]] = set()
    for resource_type, ids in by_type.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT res_id FROM resources WHERE res_type = ? AND NOT deleted AND res_id IN ({marks})"
            found.update((resource_type, row[0]) for row in raw.execute(query, (resource_type, *chunk)))
    return found

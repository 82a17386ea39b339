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

from sqlalchemy import BigInteger, Column, Table

from fhirbridge.search.index import IndexRows
from fhirbridge.storage.database import Connection
from fhirbridge.storage.records import StoredResource
from fhirbridge.storage.schema import INDEX_TABLES, INDEXED
from fhirbridge.storage.sqlite import SqliteConnection

Link = tuple[str, str, str]  # element path, target type, target id


def _columns(rows: Iterable[tuple[object, ...]], width: int) -> list[list[object]]:
    columns: list[list[object]] = [[] for _ in range(width)]
    for row in rows:
        for index, value in enumerate(row):
            columns[index].append(value)
    return columns


def _value_columns(table: Table) -> list[Column[object]]:
    """The columns a row of the index supplies: all but the resource's key and type."""
    return [column for column in table.columns if column.name not in ("res_pk", "res_type")]


def _row_groups(rows: IndexRows, links: list[Link]) -> tuple[list[tuple[object, ...]], ...]:
    """One version's rows for each table of :data:`INDEXED`, in its order."""
    return (rows.token, rows.string, rows.date, rows.reference, rows.uri, links)  # type: ignore[return-value]


def _pg_index_inserts(first: int) -> tuple[str, int]:
    """One data-modifying CTE per index table, its rows passed as one array per column from
    parameter ``$first`` on; returns the SQL and the next free parameter number."""
    parts, number = [], first
    for table in INDEXED:
        values = _value_columns(table)
        typed = "res_type" in table.c
        names = ", ".join(["res_pk", *(["res_type"] if typed else []), *(column.name for column in values)])
        arrays = ", ".join(
            f"${number + index}::{'bigint' if isinstance(column.type, BigInteger) else 'text'}[]"
            for index, column in enumerate(values)
        )
        head = "r.pk, $1, " if typed else "r.pk, "
        parts.append(
            f", i_{table.name} AS (INSERT INTO {table.name} ({names})\n"
            f"         SELECT {head}x.* FROM r, unnest({arrays}) AS x)\n"
        )
        number += len(values)
    return "".join(parts) + "SELECT pk FROM r\n", number


_PG_INDEX_INSERTS, _PREVIOUS_PK = _pg_index_inserts(7)
_SQLITE_INDEX_INSERTS = tuple(
    f"INSERT INTO {table.name} ({', '.join(column.name for column in table.columns)}) "
    f"VALUES ({', '.join('?' for _ in table.columns)})"
    for table in INDEXED
)
_PG_VERSION = """
, v AS (INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content)
        VALUES ($1, $2, $3, $4, $6, $5))
"""
_PG_CREATE = (
    "WITH r AS (INSERT INTO resources (res_type, res_id, version, last_updated, deleted, content) "
    "VALUES ($1, $2, $3, $4, false, $5) RETURNING pk)" + _PG_VERSION + _PG_INDEX_INSERTS
)
_PG_CLEAR = "".join(f", d_{table} AS (DELETE FROM {table} WHERE res_pk = ${_PREVIOUS_PK})\n" for table in INDEX_TABLES)
_PG_REPLACE = (
    "WITH r AS (UPDATE resources SET version = $3, last_updated = $4, deleted = false, content = $5 "
    f"WHERE pk = ${_PREVIOUS_PK} RETURNING pk)" + _PG_VERSION + _PG_CLEAR + _PG_INDEX_INSERTS
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
    ]
    for table, group in zip(INDEXED, _row_groups(rows, links), strict=True):
        args += _columns(group, len(_value_columns(table)))
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
    for table, sql, group in zip(INDEXED, _SQLITE_INDEX_INSERTS, _row_groups(rows, links), strict=True):
        keys = (pk, kind) if "res_type" in table.c else (pk,)
        raw.executemany(sql, [(*keys, *row) for row in group])
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

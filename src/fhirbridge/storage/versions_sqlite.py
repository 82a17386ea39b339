"""Writing a version on SQLite: every statement in one call on the writer connection.

The current row, the history row and every index and link row are written by one function
run where the connection runs its statements (inline, or on its executor), so a write costs
one hop instead of a dozen; many new resources cost one call too, one ``executemany`` per
table.  Reached as ``conn.versions`` of a :class:`~fhirbridge.storage.sqlite.SqliteConnection`.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fhirbridge.search.index import IndexRows
from fhirbridge.storage.records import StoredResource
from fhirbridge.storage.schema import INDEX_TABLES, INDEXED
from fhirbridge.storage.version_rows import Link, NewVersion, row_groups

Call = Callable[..., Awaitable[Any]]
PIECE = 16
"""New resources written in one call at most: the writer holds the event loop while it writes
(about a millisecond for this many AuditEvents), and the caller may let others run between pieces."""

_SQLITE_INDEX_INSERTS = tuple(
    f"INSERT INTO {table.name} ({', '.join(column.name for column in table.columns)}) "
    f"VALUES ({', '.join('?' for _ in table.columns)})"
    for table in INDEXED
)


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
    for table, sql, group in zip(INDEXED, _SQLITE_INDEX_INSERTS, row_groups(rows, links), strict=True):
        keys = (pk, kind) if "res_type" in table.c else (pk,)
        raw.executemany(sql, [(*keys, *row) for row in group])
    return pk


def _sqlite_create_many(raw: sqlite3.Connection, versions: Sequence[NewVersion], method: str) -> list[int]:
    # A new row's key is the largest key + 1 (the table has no AUTOINCREMENT), and this write
    # transaction holds SQLite's one writer: naming the keys here gives the rows the keys they
    # would get one by one, and lets every table take its rows in one executemany.
    last = int(raw.execute("SELECT coalesce(max(pk), 0) FROM resources").fetchone()[0])
    pks = range(last + 1, last + 1 + len(versions))
    raw.executemany(
        "INSERT INTO resources (pk, res_type, res_id, version, last_updated, deleted, content) "
        "VALUES (?, ?, ?, ?, ?, 0, ?)",
        [
            (pk, r.resource_type, r.resource_id, r.version, r.last_updated, r.content)
            for pk, (r, _, _) in zip(pks, versions, strict=True)
        ],
    )
    raw.executemany(
        "INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(r.resource_type, r.resource_id, r.version, r.last_updated, method, r.content) for r, _, _ in versions],
    )
    groups = [row_groups(rows, links) for _, rows, links in versions]
    for number, (table, sql) in enumerate(zip(INDEXED, _SQLITE_INDEX_INSERTS, strict=True)):
        typed = "res_type" in table.c
        raw.executemany(
            sql,
            [
                (pk, record.resource_type, *row) if typed else (pk, *row)
                for pk, (record, _, _), rows in zip(pks, versions, groups, strict=True)
                for row in rows[number]
            ],
        )
    return list(pks)


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


class SqliteVersions:
    """The version writer of one SQLite connection; ``call`` runs a function on its raw connection."""

    def __init__(self, call: Call) -> None:
        self.call = call

    async def save(
        self, record: StoredResource, previous_pk: int | None, method: str, rows: IndexRows, links: list[Link]
    ) -> int:
        pk: int = await self.call(_sqlite_save, record, previous_pk, method, rows, links)
        return pk

    async def create_many(
        self, versions: Sequence[NewVersion], method: str, pause: Callable[[], Awaitable[None]] | None = None
    ) -> list[int]:
        pks: list[int] = []
        for start in range(0, len(versions), PIECE):
            if start and pause is not None:
                await pause()
            pks += await self.call(_sqlite_create_many, versions[start : start + PIECE], method)
        return pks

    async def delete(self, record: StoredResource, pk: int) -> None:
        await self.call(_sqlite_delete, record, pk)

    async def live(self, targets: set[tuple[str, str]]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = await self.call(_sqlite_live, targets)
        return found

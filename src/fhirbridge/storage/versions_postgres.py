"""Writing a version on PostgreSQL: one statement of data-modifying CTEs per write.

The current row, the history row and every index and link row go to the server in one round
trip, the index rows passed as one array per column (see docs/benchmarks.md); many new
resources go in one round trip too, each table taking all their rows in one ``INSERT``.
Reached as ``conn.versions`` of a :class:`~fhirbridge.storage.postgres.PostgresConnection`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import BigInteger

from fhirbridge.search.index import IndexRows
from fhirbridge.storage.records import StoredResource
from fhirbridge.storage.schema import INDEX_TABLES, INDEXED
from fhirbridge.storage.version_rows import Link, NewVersion, columns, row_groups, value_columns


class _Statements(Protocol):
    """What the writer needs of its connection (the engine's own, which carries this writer)."""

    async def fetch(self, sql: str, *args: Any) -> list[Any]: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...


def _array(column: Any, number: int) -> str:
    return f"${number}::{'bigint' if isinstance(column.type, BigInteger) else 'text'}[]"


def _pg_index_inserts(first: int) -> tuple[str, int]:
    """One data-modifying CTE per index table, its rows passed as one array per column from
    parameter ``$first`` on; returns the SQL and the next free parameter number."""
    parts, number = [], first
    for table in INDEXED:
        values = value_columns(table)
        typed = "res_type" in table.c
        names = ", ".join(["res_pk", *(["res_type"] if typed else []), *(column.name for column in values)])
        arrays = ", ".join(_array(column, number + index) for index, column in enumerate(values))
        head = "r.pk, $1, " if typed else "r.pk, "
        parts.append(
            f", i_{table.name} AS (INSERT INTO {table.name} ({names})\n"
            f"         SELECT {head}x.* FROM r, unnest({arrays}) AS x)\n"
        )
        number += len(values)
    return "".join(parts) + "SELECT pk FROM r\n", number


_PG_INDEX_INSERTS, _PREVIOUS_PK = _pg_index_inserts(7)
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


def _pg_create_many() -> str:
    """New resources in one statement: ``x`` numbers them (``n``) as passed, in arrays
    ``$1``-``$5``; ``$6`` is the method; each index table's rows follow as one array per
    column, the first naming the resource by its number."""
    parts, number = [], 7
    for table in INDEXED:
        values = value_columns(table)
        typed = "res_type" in table.c
        names = ", ".join(["res_pk", *(["res_type"] if typed else []), *(column.name for column in values)])
        arrays = ", ".join([f"${number}::bigint[]", *(_array(c, number + 1 + i) for i, c in enumerate(values))])
        aliases = ", ".join(["n", *(column.name for column in values)])
        picked = ", ".join(["r.pk", *(["r.res_type"] if typed else []), *(f"i.{column.name}" for column in values)])
        parts.append(
            f", i_{table.name} AS (INSERT INTO {table.name} ({names})\n"
            f"         SELECT {picked} FROM unnest({arrays}) AS i({aliases})\n"
            "         JOIN x ON x.n = i.n JOIN r ON r.res_type = x.res_type AND r.res_id = x.res_id)\n"
        )
        number += 1 + len(values)
    return (
        "WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bytea[])\n"
        "           WITH ORDINALITY AS x(res_type, res_id, version, last_updated, content, n))\n"
        ", r AS (INSERT INTO resources (res_type, res_id, version, last_updated, deleted, content)\n"
        "        SELECT res_type, res_id, version, last_updated, false, content FROM x ORDER BY n\n"
        "        RETURNING pk, res_type, res_id)\n"
        ", v AS (INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, content)\n"
        "        SELECT res_type, res_id, version, last_updated, $6::text, content FROM x ORDER BY n)\n"
        + "".join(parts)
        + "SELECT r.pk FROM r JOIN x ON r.res_type = x.res_type AND r.res_id = x.res_id ORDER BY x.n"
    )


_PG_CREATE_MANY = _pg_create_many()


class PostgresVersions:
    """The version writer of one PostgreSQL connection."""

    def __init__(self, conn: _Statements) -> None:
        self.conn = conn

    async def save(
        self, record: StoredResource, previous_pk: int | None, method: str, rows: IndexRows, links: list[Link]
    ) -> int:
        args: list[object] = [
            record.resource_type,
            record.resource_id,
            record.version,
            record.last_updated,
            record.content,
            method,
        ]
        for table, group in zip(INDEXED, row_groups(rows, links), strict=True):
            args += columns(group, len(value_columns(table)))
        if previous_pk is None:
            pk: int = await self.conn.fetchval(_PG_CREATE, *args)
        else:
            pk = await self.conn.fetchval(_PG_REPLACE, *args, previous_pk)
        return pk

    async def create_many(
        self, versions: Sequence[NewVersion], method: str, pause: Callable[[], Awaitable[None]] | None = None
    ) -> list[int]:
        # One round trip, however many: others run while the server writes, ``pause`` is not needed.
        args: list[object] = [*columns(_heads(versions), 5), method]
        groups = [row_groups(rows, links) for _, rows, links in versions]
        for number, table in enumerate(INDEXED):
            owned = ((n, *row) for n, rows in enumerate(groups, 1) for row in rows[number])
            args += columns(owned, 1 + len(value_columns(table)))
        return [row[0] for row in await self.conn.fetch(_PG_CREATE_MANY, *args)]

    async def delete(self, record: StoredResource, pk: int) -> None:
        await self.conn.fetchval(
            _PG_DELETE, record.resource_type, record.resource_id, record.version, record.last_updated, pk
        )

    async def live(self, targets: set[tuple[str, str]]) -> set[tuple[str, str]]:
        types, ids = columns(sorted(targets), 2)
        rows = await self.conn.fetch(
            "SELECT r.res_type, r.res_id FROM resources r "
            "JOIN unnest($1::text[], $2::text[]) AS x(t, i) ON r.res_type = x.t AND r.res_id = x.i "
            "WHERE NOT r.deleted FOR KEY SHARE OF r",
            types,
            ids,
        )
        return {(row[0], row[1]) for row in rows}


def _heads(versions: Sequence[NewVersion]) -> list[tuple[object, ...]]:
    return [(r.resource_type, r.resource_id, r.version, r.last_updated, r.content) for r, _, _ in versions]

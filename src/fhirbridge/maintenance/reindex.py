"""``fhirbridge reindex``: the search index of every stored resource computed again (R4
search.html): what a search parameter added after the data was written needs, since the
write path indexes a resource only when it writes it.

Resources are read in key order a batch at a time; each batch's index rows are replaced in one
transaction that also records how far the run got (``maintenance_marks``, name ``reindex``), so
a run that is interrupted loses at most its batch and the next run continues after the last
batch done.  A run that reaches the end removes the mark: the next run starts from the first
resource.  On PostgreSQL each batch locks its rows (``FOR UPDATE``), so a write committed
meanwhile is either seen by the batch or waits for it, never overwritten with an older index;
on SQLite the batch is the only writer while it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.jsonio import loads
from fhirbridge.search.index import IndexRows, extract_index
from fhirbridge.storage.database import Connection, Database
from fhirbridge.storage.schema import idx_date, idx_reference, idx_string, idx_token, idx_uri

MARK = "reindex"
BATCH = 500
_TABLES = (idx_token, idx_string, idx_date, idx_reference, idx_uri)
_INSERTS = tuple(
    f"INSERT INTO {table.name} ({', '.join(c.name for c in table.columns)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(table.columns) + 1))})"
    for table in _TABLES
)


@dataclass(frozen=True)
class Reindexed:
    """What a run did: resources reindexed, and the key it started after (0: from the start)."""

    resources: int
    resumed_after: int


async def position(database: Database) -> int:
    """The key an interrupted run got to (0 when none is)."""
    async with database.reader() as conn:
        found = await conn.fetchval("SELECT position FROM maintenance_marks WHERE name = $1", MARK)
    return int(found or 0)


async def count_left(database: Database, after: int) -> int:
    async with database.reader() as conn:
        return int(await conn.fetchval("SELECT COUNT(*) FROM resources WHERE pk > $1 AND NOT deleted", after))


async def reindex(
    database: Database,
    *,
    restart: bool = False,
    progress: Callable[[int], object] | None = None,
    batch: int = BATCH,
) -> Reindexed:
    """Reindex every live resource after where an interrupted run stopped (from the first with
    ``restart``); ``progress`` is called with each batch's size once it is committed."""
    after = 0 if restart else await position(database)
    started, done = after, 0
    while True:
        async with database.transaction() as conn:
            rows = await conn.fetch(
                "SELECT pk, res_type, content FROM resources WHERE pk > $1 AND NOT deleted ORDER BY pk LIMIT $2"
                + conn.dialect.lock_for_update,
                after,
                batch,
            )
            for pk, resource_type, content in rows:
                await _replace(conn, pk, resource_type, extract_index(resource_type, loads(content)))
            if not rows:
                await conn.execute("DELETE FROM maintenance_marks WHERE name = $1", MARK)
                return Reindexed(done, started)
            after = int(rows[-1][0])
            await _mark(conn, after)
        done += len(rows)
        if progress is not None:
            progress(len(rows))


async def _replace(conn: Connection, pk: int, resource_type: str, rows: IndexRows) -> None:
    groups: tuple[list[tuple[object, ...]], ...] = (
        [tuple(row) for row in rows.token],
        [tuple(row) for row in rows.string],
        [tuple(row) for row in rows.date],
        [tuple(row) for row in rows.reference],
        [tuple(row) for row in rows.uri],
    )
    for table, insert, group in zip(_TABLES, _INSERTS, groups, strict=True):
        await conn.execute(f"DELETE FROM {table.name} WHERE res_pk = $1", pk)
        if group:
            await conn.executemany(insert, [(pk, resource_type, *row) for row in group])


async def _mark(conn: Connection, after: int) -> None:
    updated = await conn.fetchval(
        "UPDATE maintenance_marks SET position = $1, updated = $2 WHERE name = $3 RETURNING name",
        after,
        now_us(),
        MARK,
    )
    if updated is None:
        await conn.execute(
            "INSERT INTO maintenance_marks (name, position, updated) VALUES ($1, $2, $3)", MARK, after, now_us()
        )

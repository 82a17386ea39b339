"""History in commit order: the change feed that never skips or repeats a change
(R4 http.html#history; R5 lets ``_sort=_lastUpdated`` ask for the oldest change first).

A reader that pages through history remembers where it stopped and asks for what comes after.
That is only safe if nothing can later appear *before* that point: if positions follow the order
in which changes become visible (commit order), not the order in which they were written.

**SQLite** has one writer at a time (one writer connection, and SQLite's own lock across
processes), and a group-commit batch (:mod:`fhirbridge.storage.sqlite`) commits as a whole:
``seq`` is taken inside the write transaction as the largest plus one, readers see a batch all at
once or not at all, and history rows are never deleted (so no number is reused once seen).  So
``seq`` order is commit order, and every committed row may be handed out at once.

**PostgreSQL** takes ``seq`` from a sequence when the row is inserted, long before the commit:
transaction A takes 10, B takes 11 and commits, a reader pages past 11, A commits, and 10 is
never seen.  Two ways out were weighed:

* *A commit-ordered sequence*: number a transaction's rows as the last thing before it commits,
  under a lock held until the commit, so that the numbers follow commit order.  Every write then
  waits for the one before it to finish committing (its WAL flush included): writers, however
  many instances, commit one at a time, and PostgreSQL can no longer flush several commits at once.
* *A horizon* (chosen): each history row keeps the id of the transaction that wrote it
  (``pg_current_xact_id()``, in ``txid``), and the feed orders by ``(txid, seq)`` and hands out
  only rows whose ``txid`` is below the oldest transaction still running,
  ``pg_snapshot_xmin(pg_current_snapshot())``, read in the same statement as the rows.  Every
  transaction below that horizon has ended, so its rows are all there or never will be; every
  transaction still to commit has an id at or above it, so its rows come after anything handed
  out.  Nothing waits, writers stay as parallel as before; the cost is an 8-byte column, one
  index, and a feed that runs behind the oldest open write by as long as it stays open (the
  time of one write transaction, normally milliseconds; an idle-in-transaction session, of any
  database in the cluster, holds it back until it ends).  Measured in docs/benchmarks.md.

Transaction ids are taken at a transaction's first write, not at its commit, so two transactions
that overlap may come in either order.  For one resource that would hand out version 2 before
version 1 (when the transaction that wrote version 2 began writing first and then waited for the
row lock), so a version takes the larger of its transaction's id and its previous version's
``txid``: a resource's versions come in version order.  A version raised that way is held back
until the horizon passes the raised value, which keeps the argument above intact.  A trigger
sets ``txid`` (migration 0012), so that every writer gets it right, whatever its version.
Changes to *different* resources by overlapping transactions may still come in either order (a
reference may arrive a little before the resource it names): a sync client applies each version
it is given, keeping the highest ``meta.versionId`` of each resource.

Instance history needs no horizon: the row lock orders a resource's writers, so a later version
always has a later position.  Newest-first history (R4's default order) reads all that is
committed, as before; its pages are a listing of the recent past, the feed is the way to sync.
"""

from __future__ import annotations

from fhirbridge.storage.database import Connection
from fhirbridge.storage.records import HistoryEntry

Position = tuple[int, int]
"""A change's place in the feed: ``(txid, seq)``."""
MAX_POSITION_PART = 2**63 - 1


async def history(
    conn: Connection,
    *,
    resource_type: str | None,
    resource_id: str | None,
    since: int | None,
    past: Position | None,
    oldest_first: bool,
    limit: int,
) -> list[HistoryEntry]:
    """Up to ``limit`` versions in feed order (oldest first) or its reverse, written at or after
    ``since`` (R4 ``_since``), beyond ``past`` in that direction.  The oldest-first history of a
    type or of everything stops at the horizon, so that a reader who resumes after the last
    change it saw never misses one that commits later."""
    conditions: list[str] = []
    args: list[object] = []
    for column, value in (("res_type", resource_type), ("res_id", resource_id)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    if since is not None:
        args.append(since)
        conditions.append(f"last_updated >= ${len(args)}")
    if past is not None:
        args += past
        comparison = ">" if oldest_first else "<"
        conditions.append(f"(txid, seq) {comparison} (${len(args) - 1}, ${len(args)})")
    horizon = conn.dialect.feed_horizon
    if oldest_first and resource_id is None and horizon is not None:
        conditions.append(f"txid < {horizon}")
    args.append(limit)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    order = "" if oldest_first else " DESC"
    rows = await conn.fetch(
        "SELECT seq, res_type, res_id, version, last_updated, method, content, txid FROM resource_versions "
        f"{where}ORDER BY txid{order}, seq{order} LIMIT ${len(args)}",
        *args,
    )
    return [HistoryEntry(*row) for row in rows]

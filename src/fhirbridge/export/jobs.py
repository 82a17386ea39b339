"""The ``export_jobs`` table: one row per Bulk Data kick-off (export.html#bulk-data-kick-off-request).

A job is ``queued`` when kicked off, ``running`` while a worker holds its lease, then ``done``
(its outputs listed) or ``failed`` (its error kept).  A worker renews the lease as it writes;
a job whose lease ran out (its instance stopped or died) is claimed again and run from the
start, at most :data:`MOST_ATTEMPTS` times, then failed.  Cancelling deletes the row
(export.html#bulk-data-delete-request): a worker that runs it sees the row gone and stops.

A job that ended (done or failed) ``expires`` a set time later (``FHIRBRIDGE_EXPORT_KEEP_HOURS``,
the manifest's ``Expires`` header, export.html#response---complete-status): from then on its
status and files answer 404, and :data:`DOWNLOAD_GRACE` after that the worker deletes its files
and row (:func:`expired`, :func:`forget`), so that a download a client began before the expiry
is never cut short, on this instance or another sharing the folder.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from fhirbridge.export.plan import ExportPlan
from fhirbridge.storage.database import Connection, Row

SECOND = 1_000_000
LEASE = 60 * SECOND
MOST_ATTEMPTS = 3
DOWNLOAD_GRACE = 15 * 60 * SECOND
"""How long after its expiry a job's files stay on disk for the downloads begun before it."""
Output = tuple[str, str, int]  # type, file name, resources
_COLUMNS = (
    "id, level, status, caller, request, plan, transaction_time, created, attempts, progress, outputs, error, expires"
)


@dataclass(frozen=True)
class Job:
    id: str
    level: str
    status: str
    caller: str
    request: str
    plan: ExportPlan
    transaction_time: int
    created: int
    attempts: int
    progress: str | None
    outputs: list[Output]
    error: str | None
    expires: int | None
    """When the job's status and files stop answering (µs); None while it runs."""

    def expired(self, now: int) -> bool:
        return self.expires is not None and self.expires <= now


def _job(row: Row) -> Job:
    outputs = [(t, name, int(count)) for t, name, count in json.loads(row[10] or "[]")]
    return Job(
        id=row[0],
        level=row[1],
        status=row[2],
        caller=row[3],
        request=row[4],
        plan=ExportPlan.from_text(row[5]),
        transaction_time=int(row[6]),
        created=int(row[7]),
        attempts=int(row[8]),
        progress=row[9],
        outputs=outputs,
        error=row[11],
        expires=None if row[12] is None else int(row[12]),
    )


async def kick_off(conn: Connection, *, caller: str, request: str, plan: ExportPlan, now: int) -> str:
    """Store a queued job; returns its id (random: it is part of the status URL)."""
    job_id = uuid.uuid4().hex
    await conn.execute(
        "INSERT INTO export_jobs (id, level, status, caller, request, plan, transaction_time, created, attempts) "
        "VALUES ($1, $2, 'queued', $3, $4, $5, $6, $6, 0)",
        job_id,
        plan.level,
        caller,
        request,
        plan.to_text(),
        now,
    )
    return job_id


async def find(conn: Connection, job_id: str) -> Job | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM export_jobs WHERE id = $1", job_id)
    return None if row is None else _job(row)


async def claim(conn: Connection, now: int) -> Job | None:
    """The oldest job to run (queued, or running under a lease that ran out), now leased to the
    caller; None when there is none.  Two workers cannot both claim one job: the update names
    the state it found."""
    row = await conn.fetchrow(
        "SELECT id, status, lease_until FROM export_jobs WHERE status = 'queued' "
        "OR (status = 'running' AND lease_until < $1) ORDER BY created LIMIT 1",
        now,
    )
    if row is None:
        return None
    claimed = await conn.fetchval(
        "UPDATE export_jobs SET status = 'running', lease_until = $1, attempts = attempts + 1 "
        "WHERE id = $2 AND status = $3 AND COALESCE(lease_until, 0) = $4 RETURNING id",
        now + LEASE,
        row[0],
        row[1],
        row[2] or 0,
    )
    return None if claimed is None else await find(conn, row[0])


async def renew(conn: Connection, job_id: str, now: int, progress: str) -> bool:
    """Extend the lease and say how far the job got; False when the job is gone (cancelled)."""
    renewed = await conn.fetchval(
        "UPDATE export_jobs SET lease_until = $1, progress = $2 WHERE id = $3 AND status = 'running' RETURNING id",
        now + LEASE,
        progress,
        job_id,
    )
    return renewed is not None


async def finish(conn: Connection, job_id: str, outputs: list[Output], expires: int) -> bool:
    done = await conn.fetchval(
        "UPDATE export_jobs SET status = 'done', lease_until = NULL, progress = NULL, outputs = $1, expires = $2 "
        "WHERE id = $3 AND status = 'running' RETURNING id",
        json.dumps(outputs),
        expires,
        job_id,
    )
    return done is not None


async def fail(conn: Connection, job_id: str, error: str, expires: int) -> None:
    await conn.execute(
        "UPDATE export_jobs SET status = 'failed', lease_until = NULL, error = $1, expires = $2 "
        "WHERE id = $3 AND status = 'running'",
        error,
        expires,
        job_id,
    )


async def expired(conn: Connection, now: int) -> list[str]:
    """The jobs whose files may go: expired more than :data:`DOWNLOAD_GRACE` ago."""
    rows = await conn.fetch("SELECT id FROM export_jobs WHERE expires <= $1", now - DOWNLOAD_GRACE)
    return [row[0] for row in rows]


async def forget(conn: Connection, job_id: str, now: int) -> None:
    """Delete an expired job's row (its files are deleted first, so that a crash in between
    leaves the row for the next purge)."""
    await conn.execute("DELETE FROM export_jobs WHERE id = $1 AND expires <= $2", job_id, now)


async def requeue(conn: Connection, job_id: str) -> None:
    """Queue a job again after a failure that may pass (the database was away)."""
    await conn.execute(
        "UPDATE export_jobs SET status = 'queued', lease_until = NULL WHERE id = $1 AND status = 'running'", job_id
    )


async def cancel(conn: Connection, job_id: str) -> None:
    await conn.execute("DELETE FROM export_jobs WHERE id = $1", job_id)

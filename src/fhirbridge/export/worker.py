"""Running export jobs inside the service (Bulk Data 2.0 export.html#bulk-data-status-request).

A kick-off wakes the worker; it also looks every :data:`LOOK_AGAIN_SECONDS` for a job whose
lease ran out (an instance that stopped mid-export), so that a restart resumes it: the job is
claimed again and written from the start (its half-written files removed first).  A job fails
for good, with its error in the status answer, when the caller's access refuses it or after
:data:`~fhirbridge.export.jobs.MOST_ATTEMPTS` attempts.  Several instances share the jobs
through their leases (:func:`fhirbridge.export.jobs.claim`).

A job that ended expires ``FHIRBRIDGE_EXPORT_KEEP_HOURS`` later (the manifest's ``Expires``);
each round, at most once every :data:`PURGE_EVERY_SECONDS`, the worker deletes the files and
rows of the jobs expired more than :data:`~fhirbridge.export.jobs.DOWNLOAD_GRACE` ago
(:meth:`ExportWorker.purge_expired`).  Any instance may: deleting twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fhirbridge.access.guarded import GuardedRepository
from fhirbridge.config import Settings
from fhirbridge.errors import FhirError
from fhirbridge.export import files, jobs
from fhirbridge.export.caller import from_text
from fhirbridge.export.jobs import Job
from fhirbridge.export.writer import Stopped, write_export
from fhirbridge.failure_log import FailureLog
from fhirbridge.fhir.instants import now_us

log = logging.getLogger(__name__)
LOOK_AGAIN_SECONDS = 30.0
PURGE_EVERY_SECONDS = 60


class ExportWorker:
    """Claims and runs export jobs; :meth:`run_due` is one round, :meth:`nudge` wakes the loop."""

    def __init__(self, repository: GuardedRepository, root: Path, keep: int, clock: Callable[[], int] = now_us) -> None:
        """``keep``: how long (µs) an ended job's status and files answer."""
        self.repository = repository
        self.root = root
        self.keep = keep
        self.clock = clock
        self.wake = asyncio.Event()
        self.purged: int | None = None

    def nudge(self) -> None:
        self.wake.set()

    async def run_due(self) -> int:
        """Run every job that is due, one after the other; returns how many were run."""
        ran = 0
        while True:
            async with self.repository.database.transaction() as conn:
                job = await jobs.claim(conn, self.clock())
            if job is None:
                return ran
            await self.run(job)
            ran += 1

    async def purge_due(self) -> int:
        """:meth:`purge_expired`, when :data:`PURGE_EVERY_SECONDS` have passed since the last."""
        now = self.clock()
        if self.purged is not None and now - self.purged < PURGE_EVERY_SECONDS * jobs.SECOND:
            return 0
        self.purged = now
        return await self.purge_expired()

    async def purge_expired(self) -> int:
        """Delete the files, then the rows, of the jobs expired more than
        :data:`~fhirbridge.export.jobs.DOWNLOAD_GRACE` ago; returns how many."""
        now = self.clock()
        async with self.repository.database.reader() as conn:
            due = await jobs.expired(conn, now)
        for job_id in due:
            await asyncio.to_thread(files.remove, self.root, job_id)
            async with self.repository.database.transaction() as conn:
                await jobs.forget(conn, job_id, now)
        return len(due)

    async def run(self, job: Job) -> None:
        files.remove(self.root, job.id)  # what an earlier attempt left
        if job.attempts > jobs.MOST_ATTEMPTS:
            await self._fail(job, f"The export was interrupted {jobs.MOST_ATTEMPTS} times; kick it off again")
            return
        written: dict[str, int] = {}

        async def progress(resource_type: str, count: int) -> bool:
            written[resource_type] = written.get(resource_type, 0) + count
            done = ", ".join(f"{t} {n}" for t, n in written.items())
            async with self.repository.database.transaction() as conn:
                return await jobs.renew(conn, job.id, self.clock(), f"{done} read")

        try:
            outputs = await write_export(
                self.repository,
                from_text(job.caller),
                job.plan,
                job.transaction_time,
                files.job_folder(self.root, job.id),
                progress,
            )
        except Stopped:
            files.remove(self.root, job.id)  # cancelled while it ran
            return
        except FhirError as refused:  # the caller's access refuses what the job asks
            files.remove(self.root, job.id)
            await self._fail(job, "; ".join(issue.diagnostics for issue in refused.issues))
            return
        except Exception:  # logged by the loop (FailureLog); tried again, at most MOST_ATTEMPTS times
            files.remove(self.root, job.id)
            async with self.repository.database.transaction() as conn:
                await jobs.requeue(conn, job.id)
            raise
        async with self.repository.database.transaction() as conn:
            kept = await jobs.finish(conn, job.id, outputs, self.clock() + self.keep)
        if not kept:
            files.remove(self.root, job.id)

    async def _fail(self, job: Job, why: str) -> None:
        async with self.repository.database.transaction() as conn:
            await jobs.fail(conn, job.id, why, self.clock() + self.keep)


@contextlib.asynccontextmanager
async def running_exporter(repository: GuardedRepository, settings: Settings) -> AsyncIterator[ExportWorker]:
    """The export worker of a service, for as long as the block runs."""
    worker = ExportWorker(repository, Path(settings.export_dir), round(settings.export_keep_hours * 3600 * jobs.SECOND))

    async def loop() -> None:
        failures = FailureLog(log, "running export jobs")
        while True:
            try:
                await worker.run_due()
                await worker.purge_due()
            except Exception as exc:  # logged once; the job is queued again
                failures.failed(exc)
            else:
                failures.succeeded()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.wake.wait(), LOOK_AGAIN_SECONDS)
            worker.wake.clear()

    task = asyncio.create_task(loop(), name="fhirbridge-export-worker")
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

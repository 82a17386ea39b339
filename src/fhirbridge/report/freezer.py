"""Freezing the report's tertials when they fall due, in the background.

Freezing a tertial (:mod:`fhirbridge.report.freeze`) reads every contract begun in it with its
patient's attributes: about 3 s per 30,000 contracts on this project's benchmark machine
(docs/benchmarks.md).  The first report of a tertial would pay for it; instead the service
freezes each tertial soon after it falls due (its end plus
:data:`~fhirbridge.report.filters.GRACE_DAYS`), a minute after start and then every
``report_freeze_hours``.  Several instances on one database take turns per tertial; a report
that comes first still freezes what it needs itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fhirbridge.config import Settings
from fhirbridge.failure_log import FailureLog
from fhirbridge.fhir.instants import now_us
from fhirbridge.report.engine import band_tables
from fhirbridge.report.filters import closed_period, parse_period, tertials
from fhirbridge.report.freeze import ensure_frozen
from fhirbridge.storage.database import Database

log = logging.getLogger(__name__)
FIRST_DELAY_SECONDS = 60.0


async def freeze_due(database: Database, at_us: int) -> None:
    """Freeze every tertial of this year and the last that is due at ``at_us`` and not frozen."""
    latest = closed_period(None, at_us)
    first = parse_period(str(int(latest.text[:4]) - 1))
    await ensure_frozen(database, tertials(first.start, latest.end), band_tables)


@contextlib.asynccontextmanager
async def running_freezer(database: Database, settings: Settings) -> AsyncIterator[None]:
    """The background freezer for as long as the block runs (unless ``report_freeze_hours`` is 0)."""
    if settings.report_freeze_hours <= 0:
        yield
        return

    async def loop() -> None:
        failures = FailureLog(log, "freezing the follow-up report's tertials")
        await asyncio.sleep(FIRST_DELAY_SECONDS)
        while True:
            try:
                await freeze_due(database, now_us())
            except Exception as exc:  # the database is away: logged once, tried again in a minute
                failures.failed(exc)
                await asyncio.sleep(min(FIRST_DELAY_SECONDS, settings.report_freeze_hours * 3600))
                continue
            failures.succeeded()
            await asyncio.sleep(settings.report_freeze_hours * 3600)

    task = asyncio.create_task(loop(), name="fhirbridge-report-freezer")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

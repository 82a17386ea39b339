"""The audit log: AuditEvents buffered and written in batches, append-only.

Writing one AuditEvent per read in the read's own request would double the database work of
every read; the log instead collects them and writes each batch in one transaction, every
``audit_flush_seconds`` and at shutdown, letting requests run between events so that a batch
never stalls them.  When :data:`MOST_PENDING` wait, the request adding one waits for them to be
written (memory stays bounded, nothing is dropped).  An emergency access is written at once,
before it is granted.  A search of AuditEvents first writes what is pending, so a patient's own access
log is complete up to their question.  Clients can never write AuditEvents (the access policy
refuses it), so the log is append-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fhirbridge.identity import SYSTEM
from fhirbridge.repository import FhirRepository
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
BATCH = 500
MOST_PENDING = 2000
"""Past this many unwritten events a request waits for the log to catch up: memory stays
bounded and no event is dropped when requests come faster than the log can be written."""


class AuditLog:
    def __init__(self, repository: FhirRepository, flush_seconds: float) -> None:
        self.repository = repository
        self.flush_seconds = flush_seconds
        self._pending: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()

    async def add(self, event: dict[str, Any]) -> None:
        self._pending.append(event)
        if len(self._pending) >= MOST_PENDING:
            await self.flush()

    async def write_now(self, event: dict[str, Any]) -> str:
        """Write one event at once (an emergency access); its id."""
        event_id = str(uuid.uuid4())
        await self._write([(event_id, event)])
        return event_id

    async def flush(self) -> None:
        """Write everything pending (in batches); events that fail stay pending."""
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                try:
                    await self._write([(str(uuid.uuid4()), event) for event in batch])
                except Exception:
                    self._pending[:0] = batch
                    raise

    async def _write(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        async def work(unit: UnitOfWork) -> None:
            for event_id, event in events:
                await unit.create(ValidatedResource("AuditEvent", event, ()), event_id)
                await asyncio.sleep(0)  # let requests run between events: a batch must not stall them

        await self.repository.write(SYSTEM, None, work)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Flush in the background while the service runs, and once more when it stops."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.flush_seconds)
                try:
                    await self.flush()
                except Exception:  # the database is away; keep the events and try again
                    log.exception("writing the audit log failed; %d events wait", len(self._pending))

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.flush()

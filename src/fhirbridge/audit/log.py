"""The audit log: AuditEvents buffered and written in batches, append-only, with a bounded loss
window.

Writing one AuditEvent per read in the read's own request would double the database work of
every read; the log instead collects them and writes each batch in one transaction, one
statement per table for the whole batch (:meth:`~fhirbridge.writes.unit_of_work.UnitOfWork.
create_records`, indexed without FHIRPath by :mod:`fhirbridge.audit.index`).  That
leaves a window in which an answered request's event is not yet in the database, and a process
killed then (``kill -9``, the machine failing) loses it.  ``audit_flush_seconds`` (B, 0.2 s)
bounds that window: **an event is written within B of its request's answer**, which the log
keeps true like this:

* a batch starts when its oldest event has waited :data:`GATHER` of B since it was added
  (just before its answer), or at once when a full batch or a waiting request is there;
* a batch holds at most as many events as recent batches show can be written in
  :data:`WRITE` of B (:class:`BatchCosts`: the longest time they took to get and commit the
  write transaction, and their average time per event for the writing itself);
* a batch lets requests run between its events (and the pieces SQLite writes them in) every
  :data:`SLICE_SECONDS` while it keeps to that schedule, and finishes without them when it falls
  behind;
* a request whose event would not fit into the next batch, or that comes while the oldest
  unwritten event has waited three quarters of B or a batch too large to keep the bound is
  being written, is answered only once its own event is written (back-pressure).  It waits
  for nothing else and holds no lock while it waits.  When not even one event can be written
  in time (other writers keep SQLite's one writer busy), every request waits for its own, in
  batches as large as the waiting requests make them.

An event answered without waiting therefore waits at most for the batch being written when it
came (≤ WRITE) and then for its own, which starts ≤ GATHER after the oldest event waiting came
and takes ≤ WRITE: half of B.  The other half is the margin for what no estimate foresees: a
batch slower than the recent ones, a timer that fires late because the machine is busy (on two
cores shared with the load and the database, the event loop or a database round trip was seen
30-90 ms late; over 100 ms now and then when other test runs shared the cores too).  A service
starved of CPU for longer than the margin stretches the window by as much, and so does a
database that stops taking writes (an unreachable PostgreSQL, a long write transaction
holding SQLite's one writer): the events answered before the log was seen to fall behind wait
for as long as that lasts; the requests after them wait too, instead of the window growing.

An emergency access is written at once, before it is granted.  A search of AuditEvents first
writes what is pending, so a patient's own access log is complete up to their question.
Clients can never write AuditEvents (the access policy refuses it), so the log is append-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fhirbridge.audit.index import audit_index
from fhirbridge.errors import FhirError, Issue
from fhirbridge.failure_log import FailureLog
from fhirbridge.identity import SYSTEM
from fhirbridge.repository import FhirRepository
from fhirbridge.writes.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
GATHER = 0.25
"""Share of the bound an event may wait for its batch to start (from its own answer)."""
WRITE = 0.25
"""Share of the bound one batch may take to be written."""
LARGEST_BATCH = 2000
"""Events in one batch at most, whatever the measured cost: one transaction stays small, and the
events answered before their write (at most one batch) bound the memory the log holds."""
FIRST_COST_SECONDS = 0.001
"""The cost of writing one event assumed before any batch has been measured."""
SLICE_SECONDS = 0.002
"""How long a batch writes before it lets requests run, as long as it keeps to its deadline."""
MEASURED_BATCHES = 8
"""How many recent batches the costs are taken from."""
LONGEST_RETRY_SECONDS = 1.0
"""The longest pause between tries while the database is away."""
STOP_WAIT_SECONDS = 10.0
"""How long a stopping service tries to write the rest of the log to a database that is away."""


@dataclass(eq=False)
class _Entry:
    event: dict[str, Any]
    added: float
    """When the event was added, just before its request was answered (``time.monotonic``)."""
    written: bool = False
    answer: asyncio.Future[None] | None = None
    """Set when the request waits for this event to be written before it is answered."""


def log_unavailable() -> FhirError:
    """503 for a request that cannot be answered because its access record cannot be written."""
    issue = Issue("error", "transient", "The access log cannot be written at the moment; try again")
    return FhirError(503, [issue], {"Retry-After": "1"})


@dataclass(frozen=True)
class BatchTimes:
    """Where one batch's time went."""

    events: int
    fixed: float
    """Getting the write transaction and committing it (waiting for SQLite's writer included)."""
    own: float
    """Writing the events themselves, without the requests that ran between them."""


class BatchCosts:
    """What recent batches took: the longest time to get and commit the write transaction (one
    slow wait for the database must count, not be averaged away), and the average time of the
    writing itself per event, which hardly depends on how busy the service is."""

    def __init__(self) -> None:
        self._batches: deque[BatchTimes] = deque(maxlen=MEASURED_BATCHES)

    def note(self, times: BatchTimes) -> None:
        self._batches.append(times)

    def fixed(self) -> float:
        return max((batch.fixed for batch in self._batches), default=0.0)

    def per_event(self) -> float:
        """The writing itself, per event."""
        events = sum(batch.events for batch in self._batches)
        return sum(batch.own for batch in self._batches) / events if events else FIRST_COST_SECONDS

    def events_within(self, seconds: float) -> int:
        """How many events one batch can write within ``seconds``, if it must without letting
        requests run between them (0: not even one)."""
        return max(0, int((seconds - self.fixed()) / max(self.per_event(), 1e-6)))


class AuditLog:
    def __init__(self, repository: FhirRepository, flush_seconds: float) -> None:
        self.repository = repository
        self.bound = flush_seconds
        self.costs = BatchCosts()
        self._pending: deque[_Entry] = deque()
        self._newest: _Entry | None = None
        self._promised = 0
        """How many of the oldest pending events were answered on the promise of the next batch."""
        self._waiting = 0
        self._oldest_in_batch: float | None = None
        self._batch_fits = True
        """Whether the batch being written (if any) is one that can be written in time."""
        self._writing = asyncio.Lock()
        self._wake = asyncio.Event()

    def capacity(self) -> int:
        """How many events one batch may hold to be written within WRITE of the bound."""
        return min(LARGEST_BATCH, self.costs.events_within(self.bound * WRITE))

    def pending(self) -> int:
        """Events added and not yet handed to a batch."""
        return len(self._pending)

    async def add(self, event: dict[str, Any]) -> None:
        """Add the event of a request about to be answered; returns when it may be answered."""
        now = time.monotonic()
        entry = _Entry(event, now)
        self._pending.append(entry)
        self._newest = entry
        position = len(self._pending)
        capacity = self.capacity()
        oldest = self._oldest_in_batch if self._oldest_in_batch is not None else self._pending[0].added
        if position <= capacity and self._batch_fits and now - oldest <= self.bound * (1 - WRITE):
            self._promised = max(self._promised, position)
            if position in (1, capacity):
                self._wake.set()  # a first event to schedule, or a full batch to start
            return
        # The next batch could not write it in time: answer once it is written instead.
        entry.answer = asyncio.get_running_loop().create_future()
        self._waiting += 1
        self._wake.set()
        try:
            await entry.answer
        except Exception as failure:
            raise log_unavailable() from failure
        finally:
            self._waiting -= 1

    async def write_now(self, event: dict[str, Any]) -> str:
        """Write one event at once (an emergency access); its id."""
        event_id = str(uuid.uuid4())
        await self._write([(event_id, event)])
        return event_id

    async def flush(self) -> None:
        """Write every event added so far (and wait for the batch being written)."""
        newest = self._newest
        async with self._writing:
            while newest is not None and not newest.written:
                await self._write_batch()

    async def _write_batch(self) -> None:
        """Write the oldest pending events in one transaction (the caller holds ``_writing``);
        on failure they stay pending, in order, and the requests waiting for them are told."""
        capacity = self.capacity()
        # Only waiting requests' events are pending when nothing is promised: they may all go.
        size = min(len(self._pending), max(capacity, self._promised) if self._promised else LARGEST_BATCH)
        if size == 0:
            return
        batch = [self._pending.popleft() for _ in range(size)]
        self._promised = max(0, self._promised - size)
        self._oldest_in_batch = batch[0].added
        self._batch_fits = size <= capacity
        deadline = time.monotonic() + self.bound * WRITE - self.costs.fixed()
        try:
            times = await self._write([(str(uuid.uuid4()), entry.event) for entry in batch], deadline)
        except BaseException as failure:
            self._pending.extendleft(reversed(batch))
            self._promised += size
            if isinstance(failure, Exception):  # every waiting request is told, not only this batch's
                for entry in self._pending:
                    if entry.answer is not None and not entry.answer.done():
                        entry.answer.set_exception(failure)
            raise
        finally:
            self._oldest_in_batch = None
            self._batch_fits = True
        self.costs.note(times)
        for entry in batch:
            entry.written = True
            if entry.answer is not None and not entry.answer.done():
                entry.answer.set_result(None)

    async def _write(self, events: list[tuple[str, dict[str, Any]]], deadline: float | None = None) -> BatchTimes:
        """Write ``events`` in one transaction, one statement per table (on SQLite, which writes
        on the event loop, in pieces).  Requests run between events and pieces every
        :data:`SLICE_SECONDS`, unless the rest of the batch, at the pace of recent batches,
        could then not be written by ``deadline``: a batch that falls behind finishes without
        letting requests in."""

        async def work(unit: UnitOfWork) -> tuple[float, float]:
            entered = resumed = time.monotonic()
            turns = turn = 0.0  # the requests' turns; how long their last turn took
            expected = self.costs.per_event() * len(events)

            async def pause() -> None:
                nonlocal resumed, turns, turn
                now = time.monotonic()
                own = now - entered - turns
                rest = expected - own if own < expected else own  # slower than of late: as much again, say
                if now - resumed >= SLICE_SECONDS and (deadline is None or now + turn + 2 * rest < deadline):
                    await asyncio.sleep(0)  # let requests run: a batch must not stall them
                    resumed = time.monotonic()
                    turn = resumed - now
                    turns += turn

            await unit.create_records("AuditEvent", events, index=audit_index, pause=pause)
            inside = time.monotonic() - entered
            return inside, inside - turns

        started = time.monotonic()
        inside, own = await self.repository.write(SYSTEM, None, work, at_once=True)
        return BatchTimes(len(events), time.monotonic() - started - inside, own)

    async def _due(self) -> None:
        """Return when the next batch should start: its oldest event has waited GATHER of the
        bound, a full batch is there, or a request waits for its event."""
        while True:
            self._wake.clear()
            delay: float | None = None
            if self._pending:
                if self._waiting or len(self._pending) >= self.capacity():
                    return
                delay = self._pending[0].added + self.bound * GATHER - time.monotonic()
                if delay <= 0:
                    return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _write_when_due(self) -> None:
        """Write batches as they fall due.  A batch that fails (the database is away) stays
        pending, in order, with every event after it, and is tried again after a pause that
        doubles up to :data:`LONGEST_RETRY_SECONDS`; the failure is logged once, not per try."""
        failures = FailureLog(log, "writing the access log")
        pause = self.bound * GATHER
        while True:
            await self._due()
            try:
                async with self._writing:
                    await self._write_batch()
            except Exception as exc:
                failures.failed(exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, max(LONGEST_RETRY_SECONDS, self.bound * GATHER))
                continue
            if failures.failures:
                failures.succeeded()
                pause = self.bound * GATHER

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Write batches in the background while the service runs, and the rest when it stops
        (:meth:`flush_at_stop`)."""
        task = asyncio.create_task(self._write_when_due())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.flush_at_stop()

    async def flush_at_stop(self, seconds: float = STOP_WAIT_SECONDS) -> None:
        """Write what is pending as the service stops, trying again for ``seconds`` while the
        database is away; what still cannot be written is lost, and the log says how much."""
        deadline = time.monotonic() + seconds
        pause = self.bound * GATHER
        while True:
            try:
                await self.flush()
                return
            except Exception as exc:
                if time.monotonic() + pause > deadline:
                    log.error(
                        "the access log lost %d events at shutdown: the database could not take them (%s)",
                        len(self._pending),
                        exc,
                    )
                    return
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_RETRY_SECONDS)

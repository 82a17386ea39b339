"""The access log keeps its bound: an event is written within ``audit_flush_seconds`` of its
request's answer, and when the log cannot keep that promise a request waits for its own event
instead (no lock held, nothing dropped)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI

from fhirbridge.audit import log
from fhirbridge.audit.events import Seen, audit_event
from fhirbridge.audit.log import AuditLog, BatchTimes
from fhirbridge.errors import FhirError
from fhirbridge.fhir.instants import now_us
from fhirbridge.identity import DEVELOPER, SYSTEM, Identity
from fhirbridge.search.query import parse_query

BOUND = 0.2
T = TypeVar("T")


def event(number: int) -> dict[str, Any]:
    return audit_event(
        DEVELOPER,
        interaction="search-type",
        operation=None,
        status=200,
        message=None,
        seen=Seen(),
        query=f"_id=probe-{number}",
        client_address="127.0.0.1",
        now_us=now_us(),
    )


async def written_events(app: FastAPI) -> int:
    query = parse_query("AuditEvent", [("_total", "accurate")], strict=True, default_count=0, max_count=10)
    page = await app.state.context.repository.search(SYSTEM, query, None)
    return int(page.total or 0)


@pytest.fixture
async def audit_log(app: FastAPI) -> AsyncIterator[AuditLog]:
    """A running log with the default bound, on the test's database."""
    running = AuditLog(app.state.context.audit.repository, BOUND)
    async with running.running():
        yield running


class Gate:
    """Stands in for the database write of a batch: holds it until opened, or fails it."""

    def __init__(self, audit_log: AuditLog) -> None:
        self.opened = asyncio.Event()
        self.started = asyncio.Event()
        self.failures = 0
        self._write = audit_log._write

    async def write(self, events: list[tuple[str, dict[str, Any]]], deadline: float | None = None) -> BatchTimes:
        self.started.set()
        await self.opened.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database is away")
        return await self._write(events, deadline)

    async def holds_up(self, waiting: Coroutine[Any, Any, None]) -> None:
        """``waiting`` does not end while the database does not answer, and does once it has."""
        task = asyncio.create_task(waiting)
        await asyncio.sleep(0.05)
        assert not task.done()
        self.opened.set()
        await task


@pytest.fixture
def gate(audit_log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> Gate:
    """The running log's database writes, held at a gate."""
    held = Gate(audit_log)
    monkeypatch.setattr(audit_log, "_write", held.write)
    return held


async def test_an_event_is_gathered_into_a_batch_and_written_within_the_bound(
    app: FastAPI, audit_log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed = asyncio.get_running_loop().create_future()
    write = audit_log._write

    async def noting_the_commit(events: list[tuple[str, dict[str, Any]]], deadline: float | None = None) -> BatchTimes:
        times = await write(events, deadline)
        committed.set_result(time.monotonic())
        return times

    monkeypatch.setattr(audit_log, "_write", noting_the_commit)
    added = time.monotonic()
    await audit_log.add(event(1))
    assert not committed.done()  # not one write per request
    waited = await committed - added
    assert BOUND * log.GATHER * 0.9 <= waited <= BOUND
    assert await written_events(app) == 1


async def test_a_request_past_a_full_batch_waits_for_its_own_event_only(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flush interval is an hour here, so whatever is written was written because a batch
    was full or a request waited for it."""
    monkeypatch.setattr(log, "LARGEST_BATCH", 5)
    audit_log = app.state.context.audit
    for number in range(5):
        await audit_log.add(event(number))  # answered at once: the next batch takes them in time
    assert audit_log.pending() == 5
    await audit_log.add(event(5))  # would not fit the next batch: answered once written
    assert await written_events(app) == 6
    assert audit_log.pending() == 0


async def test_when_the_log_falls_behind_requests_wait_instead_of_the_window_growing(
    app: FastAPI, audit_log: AuditLog, gate: Gate
) -> None:
    await audit_log.add(event(1))
    await gate.started.wait()  # the batch starts, and the database does not answer
    await asyncio.sleep(BOUND * (log.GATHER + log.WRITE))
    await gate.holds_up(audit_log.add(event(2)))  # the request is not answered while the log is behind
    assert await written_events(app) == 2


async def test_a_request_whose_event_cannot_be_written_is_a_503_and_the_event_is_kept(
    app: FastAPI, audit_log: AuditLog, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log, "LARGEST_BATCH", 1)
    gate.failures = 1
    gate.opened.set()
    await audit_log.add(event(1))
    with pytest.raises(FhirError) as refused:
        await audit_log.add(event(2))
    assert refused.value.status == 503
    await audit_log.flush()
    assert await written_events(app) == 2


async def test_flush_writes_what_was_added_and_waits_for_the_batch_being_written(
    app: FastAPI, audit_log: AuditLog, gate: Gate
) -> None:
    await audit_log.add(event(1))
    await gate.started.wait()
    await audit_log.add(event(2))
    await gate.holds_up(audit_log.flush())
    assert await written_events(app) == 2


async def test_when_the_database_is_slow_to_take_a_write_every_request_waits_for_its_own_event(
    app: FastAPI, audit_log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = audit_log.repository.write

    async def slow_to_begin(
        identity: Identity, local_base: str | None, work: Callable[[Any], Awaitable[T]], **options: Any
    ) -> T:
        await asyncio.sleep(BOUND * log.WRITE * 1.5)  # as when other writers hold SQLite's one writer
        return await write(identity, local_base, work, **options)

    monkeypatch.setattr(audit_log.repository, "write", slow_to_begin)
    await audit_log.add(event(1))
    await audit_log.flush()
    assert audit_log.capacity() == 0  # not even one event could be written in time
    await audit_log.add(event(2))
    assert await written_events(app) == 2


async def test_a_batch_lets_requests_run_between_its_events_unless_it_falls_behind(
    audit_log: AuditLog, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's writes wait for the server, and requests run meanwhile whatever the batch does")
    turns = 0

    async def request() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    running = asyncio.create_task(request())
    await asyncio.sleep(0)
    try:
        for deadline, let_in in ((time.monotonic() + 60, True), (time.monotonic(), False)):
            before = turns
            await audit_log._write([(f"turns-{let_in}-{n}", event(n)) for n in range(100)], deadline)
            assert (turns > before) is let_in
    finally:
        running.cancel()

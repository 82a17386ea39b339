"""The access log keeps up: when requests come faster than it is written, they wait for it."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.audit import log
from fhirbridge.identity import SYSTEM
from fhirbridge.search.query import parse_query
from tests.support import builders
from tests.support.api import create


async def written_events(app: FastAPI) -> int:
    query = parse_query("AuditEvent", [("_total", "accurate")], strict=True, default_count=0, max_count=10)
    page = await app.state.context.repository.search(SYSTEM, query, None)
    return int(page.total or 0)


async def test_a_full_log_is_written_before_more_requests_are_answered(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test settings write the log only when asked (audit_flush_seconds is an hour), so
    whatever reaches the database here was written because the log was full."""
    patient = await create(client, builders.patient())
    assert await written_events(app) == 0
    monkeypatch.setattr(log, "MOST_PENDING", 5)
    for _ in range(5):
        assert (await client.get(f"/fhir/Patient/{patient['id']}")).status_code == 200
    assert await written_events(app) >= 5
    assert len(app.state.context.audit._pending) < 5  # never more than MOST_PENDING wait

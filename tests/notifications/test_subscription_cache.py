"""What the notifier keeps of the active Subscriptions is never a state that did not commit.

On SQLite a write may share its commit with the writes queued behind it; when that commit fails
(a full disk, say) every write of the batch fails, including a Subscription that a later write
of the batch already saw.  A later, different Subscription must then be the one notified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from fhirbridge.storage.sqlite import SqliteDatabase
from tests.conftest import BASE
from tests.support import builders
from tests.support.api import create, patient_and_practitioner

NEVER_STORED = "https://never-stored.region.example/hook"
STORED = "https://stored.region.example/hook"


@pytest.fixture
async def app_on_sqlite(settings: Settings) -> AsyncIterator[FastAPI]:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("only SQLite commits several writes together")
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("never came")


async def test_a_subscription_whose_commit_failed_is_not_notified(app_on_sqlite: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app_on_sqlite, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        database = app_on_sqlite.state.context.repository.database
        assert isinstance(database, SqliteDatabase)
        patient, karin = await patient_and_practitioner(client)
        async with database.transaction() as conn:  # checked at COMMIT: breaks the batch's commit
            await conn.execute(
                "CREATE TABLE checked_late (res_pk INTEGER REFERENCES resources (pk) DEFERRABLE INITIALLY DEFERRED)"
            )
        holding, release = asyncio.Event(), asyncio.Event()

        async def breaks_the_commit() -> None:
            async with database.transaction() as conn:
                await conn.execute("INSERT INTO checked_late (res_pk) VALUES (-1)")
                holding.set()
                await release.wait()

        holder = asyncio.create_task(breaks_the_commit())
        await holding.wait()
        subscribe = asyncio.create_task(
            client.post("/fhir/Subscription", json=builders.messages_to(karin["id"], NEVER_STORED))
        )
        await _until(lambda: database._queued == 1)
        message = asyncio.create_task(
            client.post("/fhir/Communication", json=builders.communication(patient["id"], karin["id"]))
        )
        await _until(lambda: database._queued == 2)
        release.set()
        holder_failed, subscribed, messaged = await asyncio.gather(holder, subscribe, message, return_exceptions=True)
        assert isinstance(holder_failed, Exception)
        assert isinstance(subscribed, httpx.Response) and subscribed.status_code >= 500
        assert isinstance(messaged, httpx.Response) and messaged.status_code >= 500

        stored = await create(client, builders.messages_to(karin["id"], STORED))
        await create(client, builders.communication(patient["id"], karin["id"]))
        async with database.reader() as conn:
            owed = [tuple(row) for row in await conn.fetch("SELECT subscription_id, endpoint FROM outbox")]
        assert owed == [(stored["id"], STORED)]

"""Two delivery workers on one PostgreSQL (issue 15, item 6: several instances, each with its own
``fhirbridge worker``): every notification owed is delivered, and none twice, however the two
workers' rounds interleave (each claims due rows with a lease, skipping rows the other holds)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.notifications.delivery import OutboxWorker
from fhirbridge.rest.app import create_app
from tests.notifications.test_delivery import Receiver, receiver  # noqa: F401 (the fixture)
from tests.support import builders
from tests.support.api import BASE, create, patient_and_practitioner
from tests.support.databases import opened

pytestmark = pytest.mark.postgres_only
OWED = 40


async def _owed(database_url: str) -> int:
    async with opened(database_url) as database, database.reader() as conn:
        return int(await conn.fetchval("SELECT COUNT(*) FROM outbox WHERE delivered IS NULL"))


async def test_two_workers_deliver_each_notification_once(
    settings: Settings,
    database_url: str,
    receiver: Receiver,  # noqa: F811
) -> None:
    allowing = settings.model_copy(update={"subscription_allowed_hosts": [f"127.0.0.1:{receiver.port}"]})
    service = create_app(allowing)
    async with (
        service.router.lifespan_context(service),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url=BASE) as client,
    ):
        patient, karin = await patient_and_practitioner(client)
        await create(client, builders.messages_to(karin["id"], f"http://127.0.0.1:{receiver.port}/hook"))
        for _ in range(OWED):
            await create(client, builders.communication(patient["id"], karin["id"]))
    assert await _owed(database_url) == OWED

    ready = asyncio.Barrier(2)

    async def work() -> int:
        delivered = 0
        async with opened(database_url) as database:  # its own connections, as its own process
            worker = OutboxWorker.for_settings(database, allowing)
            worker.batch = 3  # small rounds, so that the two workers' rounds interleave
            await ready.wait()
            try:
                while await _owed(database_url):
                    delivered += await worker.deliver_due()
                    await asyncio.sleep(0)
            finally:
                await worker.close()
        return delivered

    counts = await asyncio.gather(work(), work())
    assert sum(counts) == OWED and all(counts), counts  # both worked, and together delivered each once
    assert len(receiver.requests) == OWED
    assert await _owed(database_url) == 0

"""Two delivery workers on one PostgreSQL (issue 15, item 6: several instances, each with its own
``fhirbridge worker``): every notification owed is delivered, and none twice, however the two
workers' rounds interleave (each claims due rows with a lease, skipping rows the other holds)."""

from __future__ import annotations

import asyncio

import pytest

from fhirbridge.config import Settings
from fhirbridge.notifications.delivery import OutboxWorker
from tests.notifications.test_delivery import Receiver, receiver, subscribed_receiver  # noqa: F401 (the fixture)
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
    async with subscribed_receiver(settings, receiver, OWED) as (_, allowing):
        pass
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

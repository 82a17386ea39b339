"""The delivery worker through a PostgreSQL outage: it keeps running, says so once when its
rounds begin to fail and once when they work again, and never dies silently."""

from __future__ import annotations

import asyncio
import logging

import pytest

from fhirbridge.notifications.delivery import OutboxWorker
from fhirbridge.storage.migrations import upgrade
from tests.support.databases import opened
from tests.support.postgres import ThrowawayPostgres


async def test_the_delivery_worker_survives_an_outage(
    private_postgres: ThrowawayPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fhirbridge")
    await asyncio.to_thread(upgrade, private_postgres.url)
    async with opened(private_postgres.url) as database:
        worker = OutboxWorker(database, max_age_us=3_600_000_000)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop, 0.05))
        try:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(private_postgres.stop_server)
            await asyncio.sleep(1.0)  # some twenty rounds fail meanwhile
            assert not running.done(), "the worker died"
            await asyncio.to_thread(private_postgres.start_server)
            await asyncio.sleep(1.5)
            assert not running.done(), "the worker died"
        finally:
            stop.set()
            await running
            await worker.close()

    told = [record.getMessage() for record in caplog.records if record.name == "fhirbridge.notifications.delivery"]
    assert len(told) == 2, told
    assert told[0].startswith("delivering notifications waits for the database")
    assert told[1].startswith("delivering notifications works again")
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"

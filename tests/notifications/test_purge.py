"""The worker purges delivered outbox rows once they are older than the deployment keeps them
(``FHIRBRIDGE_OUTBOX_KEEP_DELIVERED_HOURS``); rows still owed or given up stay."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.notifications import outbox
from fhirbridge.notifications.delivery import PURGE_EVERY, OutboxWorker
from fhirbridge.storage.database import Database
from tests.notifications.receiver import Clock, RecordingReceiver, allowed_to_deliver
from tests.support import builders
from tests.support.api import create, patient_and_practitioner

HOUR = 3_600_000_000


@pytest.fixture
def settings(settings: Settings, receiver: RecordingReceiver) -> Settings:
    """The suite's settings, allowed to deliver to the receiver on loopback."""
    return allowed_to_deliver(settings, receiver)


async def rows(database: Database) -> list[tuple[bool, bool]]:
    """(delivered, given up) of every outbox row."""
    async with database.reader() as conn:
        found = await conn.fetch("SELECT delivered, failed FROM outbox ORDER BY pk")
    return [(row[0] is not None, row[1] is not None) for row in found]


def deployed(app: FastAPI, settings: Settings, **update: object) -> OutboxWorker:
    return OutboxWorker.for_settings(app.state.context.repository.database, settings.model_copy(update=update))


async def test_delivered_rows_are_purged_after_the_time_kept_and_no_others(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, receiver: RecordingReceiver
) -> None:
    database: Database = app.state.context.repository.database
    patient, karin = await patient_and_practitioner(client)
    delivered = await create(client, builders.messages_to(karin["id"], receiver.url))
    await create(client, builders.communication(patient["id"], karin["id"]))
    worker = deployed(app, settings, outbox_keep_delivered_hours=2)
    clock = Clock()
    worker.clock = clock
    assert await worker.deliver_due() == 1
    await create(client, builders.messages_to(karin["id"], "https://nobody.region.example/hook"))
    await create(client, builders.communication(patient["id"], karin["id"]))  # owed to both now
    async with database.transaction() as conn:  # one more owed row given up, as after max age
        await outbox.enqueue(conn, [_owed(delivered["id"])], clock.now)
        await conn.execute("UPDATE outbox SET failed = $1 WHERE pk = (SELECT MAX(pk) FROM outbox)", clock.now)
    before = await rows(database)
    assert before.count((True, False)) == 1 and before.count((False, True)) == 1

    clock.now += HOUR  # kept for two hours: not yet
    assert await worker.purge_when_due() == 0
    assert await rows(database) == before
    clock.now += HOUR + PURGE_EVERY
    assert await worker.purge_when_due() == 1
    after = await rows(database)
    assert (True, False) not in after and len(after) == len(before) - 1
    await worker.close()


def _owed(subscription_id: str) -> outbox.Notification:
    return outbox.Notification(subscription_id, "Patient", "p", 1, "https://x.example/", (), None)


async def test_the_running_worker_purges(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, receiver: RecordingReceiver
) -> None:
    database: Database = app.state.context.repository.database
    patient, karin = await patient_and_practitioner(client)
    await create(client, builders.messages_to(karin["id"], receiver.url))
    await create(client, builders.communication(patient["id"], karin["id"]))
    worker = deployed(app, settings, outbox_keep_delivered_hours=0)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, 0.05))
    try:
        for _ in range(100):
            if receiver.received and not await rows(database):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
        await worker.close()
    assert len(receiver.received) == 1 and await rows(database) == []

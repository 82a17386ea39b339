"""A receiver that keeps failing puts its Subscription in ``error``, visible to the owner with
the last error and the next attempt (notifications/state.py); the retries survive a restart;
when the receiver recovers, delivery resumes and the Subscription is ``active`` again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_address
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.fhir.instants import now_us
from fhirbridge.notifications import egress, outbox
from fhirbridge.notifications.delivery import OutboxWorker, pause_after
from fhirbridge.notifications.endpoints import IPAddress
from fhirbridge.notifications.state import ERROR_AFTER, NEXT_ATTEMPT_URL, instant
from fhirbridge.rest.app import create_app
from fhirbridge.storage.database import Database
from tests.notifications.receiver import Clock, RecordingReceiver, allowed_to_deliver
from tests.support import builders
from tests.support.api import BASE, create, outcome, patient_and_practitioner


@asynccontextmanager
async def running(settings: Settings, receiver: RecordingReceiver) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The service (allowed to deliver to the receiver on loopback): a client, its database."""
    allowing = allowed_to_deliver(settings, receiver)
    service: FastAPI = create_app(allowing)
    async with (
        service.router.lifespan_context(service),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url=BASE) as client,
    ):
        yield client, service.state.context.repository.database


def worker(database: Database, settings: Settings, clock: Clock) -> OutboxWorker:
    allowing = settings.model_copy(update={"subscription_allowed_hosts": ["127.0.0.1"]})
    deployed = OutboxWorker.for_settings(database, allowing)
    deployed.clock = clock
    return deployed


async def shown(client: httpx.AsyncClient, subscription_id: str) -> dict[str, Any]:
    response = await client.get(f"/fhir/Subscription/{subscription_id}")
    assert response.status_code == 200
    subscription: dict[str, Any] = response.json()
    return subscription


async def test_a_failing_receiver_shows_as_error_and_recovers_after_a_restart(
    settings: Settings, receiver: RecordingReceiver
) -> None:
    receiver.status = 503
    clock = Clock()
    async with running(settings, receiver) as (client, database):
        patient, karin = await patient_and_practitioner(client)
        subscription = await create(client, builders.messages_to(karin["id"], receiver.url))
        await create(client, builders.communication(patient["id"], karin["id"]))
        clock.now = now_us()  # after the writes: their notifications are due
        failing = worker(database, settings, clock)
        for attempt in range(1, ERROR_AFTER + 1):
            assert (await shown(client, subscription["id"]))["status"] == "active"  # not yet: a blip is no error
            assert await failing.deliver_due() == 0
            if attempt < ERROR_AFTER:
                clock.now += pause_after(attempt)
        await failing.close()
        seen = await shown(client, subscription["id"])
        assert seen["status"] == "error"
        assert seen["error"] == f"HTTP 503 from {receiver.url}"
        [next_attempt] = [e["valueInstant"] for e in seen["extension"] if e["url"] == NEXT_ATTEMPT_URL]
        assert next_attempt == instant(clock.now + pause_after(ERROR_AFTER))
        assert receiver.received == []

    receiver.status = 204  # the receiver is back; so is the service, after a restart
    async with running(settings, receiver) as (client, database):
        assert await outbox.pending(database) == 1
        clock.now += pause_after(ERROR_AFTER)
        recovering = worker(database, settings, clock)
        assert await recovering.deliver_due() == 1
        await recovering.close()
        assert len(receiver.received) == 1
        seen = await shown(client, subscription["id"])
        assert seen["status"] == "active"
        assert "error" not in seen and "extension" not in seen
        assert seen["meta"]["versionId"] == "3"  # active, error, active again: nothing more


async def test_a_receiver_down_for_long_adds_a_version_per_round_not_per_notification(
    settings: Settings, receiver: RecordingReceiver
) -> None:
    receiver.status = 500
    clock = Clock()
    rounds = ERROR_AFTER + 3
    async with running(settings, receiver) as (client, database):
        patient, karin = await patient_and_practitioner(client)
        subscription = await create(client, builders.messages_to(karin["id"], receiver.url))
        failing = worker(database, settings, clock)
        for attempt in range(1, rounds + 1):  # a message a round: each round retries all, each at its own pause
            await create(client, builders.communication(patient["id"], karin["id"]))
            clock.now = max(clock.now, now_us())
            await failing.deliver_due()
            clock.now += pause_after(attempt)
        await failing.close()
        seen = await shown(client, subscription["id"])
        assert seen["status"] == "error"
        assert int(seen["meta"]["versionId"]) == 1 + rounds - ERROR_AFTER + 1  # once a round from the third


async def test_a_client_cannot_set_the_servers_error_state(client: httpx.AsyncClient) -> None:
    body = builders.subscription("Communication?status=completed")
    claimed = dict(body, error="HTTP 500", extension=[{"url": NEXT_ATTEMPT_URL, "valueInstant": instant(now_us())}])
    stored = await create(client, claimed)
    assert stored["status"] == "active" and "error" not in stored and "extension" not in stored
    # what a client read back in error and sends again unchanged is taken as asked anew
    sent_back = await create(client, dict(claimed, status="error"))
    assert sent_back["status"] == "active" and "error" not in sent_back and "extension" not in sent_back
    refused = outcome(await client.post("/fhir/Subscription", json=dict(body, status="paused")), 400)
    assert refused["issue"][0]["expression"] == ["Subscription.status"]


async def test_the_owner_is_not_told_what_an_internal_name_resolves_to(
    settings: Settings, receiver: RecordingReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service could otherwise learn the care network's names and addresses by subscribing
    to them and reading the error: the outbox row keeps the details, the owner gets a kind."""

    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ip_address("10.20.30.40")]

    monkeypatch.setattr(egress, "resolve", resolve)
    clock = Clock()
    async with running(settings, receiver) as (client, database):
        patient, karin = await patient_and_practitioner(client)
        endpoint = "http://journal-db.region.internal/hook"
        subscription = await create(client, builders.messages_to(karin["id"], endpoint))
        await create(client, builders.communication(patient["id"], karin["id"]))
        clock.now = now_us()
        failing = worker(database, settings, clock)
        for attempt in range(1, ERROR_AFTER + 1):
            await failing.deliver_due()
            clock.now += pause_after(attempt)
        await failing.close()
        seen = await shown(client, subscription["id"])
        assert seen["status"] == "error"
        assert seen["error"] == f"{endpoint} could not be reached, or is not an address this server may call"
        async with database.reader() as conn:
            kept = str(await conn.fetchval("SELECT last_error FROM outbox"))
        assert "10.20.30.40" in kept and "10.20.30.40" not in json.dumps(seen)

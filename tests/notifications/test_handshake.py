"""The handshake of a topic-based Subscription (Subscriptions Backport IG, *Workflow*): stored
``requested``, it becomes ``active`` when the signed handshake reaches its receiver on 127.0.0.1,
``error`` at once when it does not, and no event goes out before the handshake; on both
databases (development mode)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.fhir.instants import now_us
from fhirbridge.notifications.delivery import SECOND, OutboxWorker
from fhirbridge.notifications.endpoints import EndpointPolicy
from fhirbridge.notifications.signing import SECRET_URL, verify
from fhirbridge.notifications.state import NEXT_ATTEMPT_URL
from tests.notifications.receiver import Clock, RecordingReceiver
from tests.notifications.test_topics import ESTABLISHED, REVISED, status_of, topic_subscription
from tests.support import builders
from tests.support.api import BASE, create
from tests.support.contracts import contract_world

HOUR = 3600 * SECOND
SECRET = "handslag-hemlighet-0123456789abcdef-region"


@pytest.fixture
async def client(service: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url=BASE) as http:
        yield http


@pytest.fixture
async def worker(service: FastAPI) -> AsyncIterator[tuple[OutboxWorker, Clock]]:
    clock = Clock()
    context = service.state.context
    made = OutboxWorker(
        context.repository.database,
        max_age_us=HOUR,
        clock=clock,
        endpoints=EndpointPolicy.from_settings(context.settings),
        repository=OutboxWorker.for_settings(context.repository.database, context.settings).repository,
    )
    try:
        yield made, clock
    finally:
        await made.close()


async def read(client: httpx.AsyncClient, subscription_id: str) -> dict[str, Any]:
    subscription: dict[str, Any] = (await client.get(f"/fhir/Subscription/{subscription_id}")).json()
    return subscription


def kinds(receiver: RecordingReceiver) -> list[str]:
    return [status_of(json.loads(got.body))["type"] for got in receiver.received]


async def test_the_handshake_is_sent_signed_and_makes_the_subscription_active_before_any_event(
    client: httpx.AsyncClient, receiver: RecordingReceiver, worker: tuple[OutboxWorker, Clock]
) -> None:
    deliverer, clock = worker
    world = await contract_world(client)
    body = topic_subscription(ESTABLISHED, receiver.url)
    body["channel"]["extension"] = [{"url": SECRET_URL, "valueString": SECRET}]
    subscription = await create(client, body)
    assert subscription["status"] == "requested"
    await create(client, world["contract"])  # while requested: numbered and kept, sent after the handshake
    clock.now = now_us()
    assert await deliverer.deliver_due() == 1  # the handshake alone: the event waits for it
    assert kinds(receiver) == ["handshake"]
    [got] = receiver.received
    shake = json.loads(got.body)
    status = status_of(shake)
    assert shake["type"] == "history" and len(shake["entry"]) == 1
    assert status["status"] == "requested" and status["events-since-subscription-start"] == "1"
    assert status["subscription"] == {"reference": f"Subscription/{subscription['id']}"}
    assert verify(SECRET.encode(), got.headers, got.body, int(got.headers["x-fhirbridge-timestamp"]))
    assert (await read(client, subscription["id"]))["status"] == "active"
    assert await deliverer.deliver_due() == 1
    assert kinds(receiver) == ["handshake", "event-notification"]


async def test_a_failed_handshake_shows_error_at_once_and_the_first_one_through_makes_it_active(
    client: httpx.AsyncClient, receiver: RecordingReceiver, worker: tuple[OutboxWorker, Clock]
) -> None:
    deliverer, clock = worker
    world = await contract_world(client)
    receiver.status = 503
    subscription = await create(client, topic_subscription(ESTABLISHED, receiver.url))
    clock.now = now_us()
    assert await deliverer.deliver_due() == 0
    failed = await read(client, subscription["id"])
    assert failed["status"] == "error" and f"HTTP 503 from {receiver.url}" in failed["error"]
    assert any(e["url"] == NEXT_ATTEMPT_URL for e in failed["extension"])
    await create(client, world["contract"])  # kept; not sent before a handshake gets through
    clock.now = now_us()
    assert await deliverer.deliver_due() == 0 and receiver.received == []
    clock.now += 2 * SECOND
    receiver.status = 204
    assert await deliverer.deliver_due() == 1 and kinds(receiver) == ["handshake"]
    recovered = await read(client, subscription["id"])
    assert recovered["status"] == "active" and "error" not in recovered and "extension" not in recovered
    assert await deliverer.deliver_due() == 1 and kinds(receiver) == ["handshake", "event-notification"]


async def test_a_new_endpoint_shakes_hands_again_and_other_changes_do_not(
    client: httpx.AsyncClient, receiver: RecordingReceiver, worker: tuple[OutboxWorker, Clock]
) -> None:
    deliverer, clock = worker
    subscription = await create(client, topic_subscription(REVISED, receiver.url))
    clock.now = now_us()
    assert await deliverer.deliver_due() == 1
    active = await read(client, subscription["id"])
    renamed = (await client.put(f"/fhir/Subscription/{active['id']}", json=dict(active, reason="Ny anledning"))).json()
    clock.now = now_us()
    assert renamed["status"] == "active" and await deliverer.deliver_due() == 0
    moved_to = receiver.url.replace("/hook", "/other-hook")
    channel = dict(renamed["channel"], endpoint=moved_to)
    moved = (await client.put(f"/fhir/Subscription/{active['id']}", json=dict(renamed, channel=channel))).json()
    assert moved["status"] == "requested"
    clock.now = now_us()
    assert await deliverer.deliver_due() == 1
    assert receiver.received[-1].line.startswith("POST /other-hook")
    assert (await read(client, subscription["id"]))["status"] == "active"


async def test_a_subscription_with_search_criteria_has_no_handshake(
    client: httpx.AsyncClient, receiver: RecordingReceiver, worker: tuple[OutboxWorker, Clock]
) -> None:
    deliverer, clock = worker
    subscription = await create(client, builders.subscription("Communication?status=completed", receiver.url))
    assert subscription["status"] == "active"
    clock.now = now_us()
    assert await deliverer.deliver_due() == 0 and receiver.received == []

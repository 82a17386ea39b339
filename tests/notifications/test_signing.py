"""Signed notifications (notifications/signing.py): a receiver on 127.0.0.1 verifies the
HMAC-SHA256 of what it received with the Subscription's secret; a wrong secret, a changed body
or an old timestamp fails; the secret is never shown; a bad secret is a 422 that stores nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.notifications.delivery import OutboxWorker
from fhirbridge.notifications.signing import KEY_URL, SECRET_URL, verify
from fhirbridge.storage.database import Database
from tests.notifications.receiver import RecordingReceiver
from tests.support import builders
from tests.support.api import BASE, create, outcome, patient_and_practitioner

SECRET = "kvitto-hemlighet-0123456789abcdef-region"


@pytest.fixture
async def client(service: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url=BASE) as http:
        yield http


def signed(endpoint: str, secret: str = SECRET, **channel: Any) -> dict[str, Any]:
    """All messages' Subscription, signed with ``secret``, its payload the Communication."""
    extension = [{"url": SECRET_URL, "valueString": secret}]
    return builders.subscription(
        "Communication?status=completed", endpoint, payload="application/fhir+json", extension=extension, **channel
    )


async def deliver(service: FastAPI) -> int:
    database: Database = service.state.context.repository.database
    worker = OutboxWorker.for_settings(database, service.state.context.settings)
    try:
        return await worker.deliver_due()
    finally:
        await worker.close()


async def message(client: httpx.AsyncClient) -> None:
    patient, karin = await patient_and_practitioner(client)
    await create(client, builders.communication(patient["id"], karin["id"]))


async def test_a_receiver_verifies_the_signature_and_a_wrong_secret_fails(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    await create(client, signed(receiver.url))
    await message(client)
    assert await deliver(service) == 1
    [got] = receiver.received
    now = int(time.time())
    assert got.line.startswith("PUT /hook/Communication/")
    assert json.loads(got.body)["resourceType"] == "Communication"
    assert got.headers["x-fhirbridge-signature"].startswith("sha256=")
    assert len(got.headers["x-fhirbridge-signature"]) == len("sha256=") + 64
    assert verify(SECRET.encode(), got.headers, got.body, now)
    stamp = got.headers["x-fhirbridge-timestamp"]  # the documented scheme, computed here by hand
    mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-fhirbridge-signature"] == f"sha256={mac}" and abs(int(stamp) - now) < 60
    assert not verify(b"another-secret-0123456789abcdef-region", got.headers, got.body, now)
    assert not verify(SECRET.encode(), got.headers, got.body + b" ", now)  # not the bytes that were signed
    assert not verify(SECRET.encode(), got.headers, got.body, now + 3600)  # replayed an hour later


async def test_a_notification_without_payload_is_signed_too(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    bare = signed(receiver.url)
    del bare["channel"]["payload"]
    await create(client, bare)
    await message(client)
    assert await deliver(service) == 1
    [got] = receiver.received
    assert got.line == "POST /hook HTTP/1.1" and got.body == b""
    assert verify(SECRET.encode(), got.headers, b"", int(time.time()))


async def test_the_secret_is_never_shown_and_a_key_id_stands_in(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    created = await create(client, signed(receiver.url))
    shown = [
        (await client.get(f"/fhir/Subscription/{created['id']}")).text,
        (await client.get(f"/fhir/Subscription/{created['id']}/_history")).text,
        (await client.get("/fhir/Subscription")).text,
        (await client.get("/fhir/_history")).text,
        json.dumps(created),
    ]
    assert all(SECRET not in text and SECRET_URL not in text for text in shown)
    [key] = [e for e in created["channel"]["extension"] if e["url"] == KEY_URL]
    assert len(key["valueString"]) == 32


async def test_a_read_modify_write_keeps_the_secret_and_a_new_one_replaces_it(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    created = await create(client, signed(receiver.url))
    read = (await client.get(f"/fhir/Subscription/{created['id']}")).json()
    kept = (await client.put(f"/fhir/Subscription/{created['id']}", json=dict(read, reason="Ny"))).json()
    assert kept["channel"]["extension"] == created["channel"]["extension"]
    await message(client)
    assert await deliver(service) == 1
    assert verify(SECRET.encode(), receiver.received[-1].headers, receiver.received[-1].body, int(time.time()))

    rotated = "roterad-hemlighet-0123456789abcdef-region"
    changed = signed(receiver.url, rotated)
    response = await client.put(f"/fhir/Subscription/{created['id']}", json=dict(changed, id=created["id"]))
    assert response.status_code == 200, response.text
    assert response.json()["channel"]["extension"] != created["channel"]["extension"]
    await message(client)
    assert await deliver(service) == 1
    last = receiver.received[-1]
    assert verify(rotated.encode(), last.headers, last.body, int(time.time()))
    assert not verify(SECRET.encode(), last.headers, last.body, int(time.time()))


async def test_without_a_key_nothing_is_signed(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    created = await create(client, signed(receiver.url))
    plain = dict(created)
    plain["channel"] = {k: v for k, v in created["channel"].items() if k != "extension"}
    assert (await client.put(f"/fhir/Subscription/{created['id']}", json=plain)).status_code == 200
    await message(client)
    assert await deliver(service) == 1
    assert "x-fhirbridge-signature" not in receiver.received[-1].headers


@pytest.mark.parametrize(("secret", "status"), [("kort", 422), (5, 400), ("å" * 40, 422), ("x" * 257, 422)])
async def test_a_bad_secret_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, receiver: RecordingReceiver, secret: Any, status: int
) -> None:
    body = signed(receiver.url)
    body["channel"]["extension"] = [{"url": SECRET_URL, "valueString": secret}]
    refused = outcome(await client.post("/fhir/Subscription", json=body), status)
    assert refused["issue"][0]["expression"] == ["Subscription.channel.extension[0].valueString"]
    assert (await client.get("/fhir/Subscription")).json()["total"] == 0


async def test_another_subscriptions_key_is_refused(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    """A key id names a secret of its own Subscription only: another's would make the server
    sign for someone who does not know that secret."""
    theirs = await create(client, signed(receiver.url))
    borrowed = builders.subscription("Communication?status=completed", receiver.url)
    borrowed["channel"]["extension"] = [e for e in theirs["channel"]["extension"] if e["url"] == KEY_URL]
    refused = outcome(await client.post("/fhir/Subscription", json=borrowed), 422)
    assert refused["issue"][0]["expression"] == ["Subscription.channel.extension"]
    assert (await client.get("/fhir/Subscription")).json()["total"] == 1

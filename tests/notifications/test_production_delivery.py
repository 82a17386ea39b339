"""Topic notifications delivered end to end in production mode (bearer tokens, the access policy,
https only) to an https receiver on 127.0.0.1 whose certificate a CA made in the test signs, the
service trusting that CA through ``FHIRBRIDGE_NOTIFY_CA_FILE``; on both databases.  The owner (a
service: only services subscribe) is sent a signed handshake and its events, and nothing about a
patient whose information it may not read (a block, spärr)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES, concept
from fhirbridge.notifications.delivery import OutboxWorker
from fhirbridge.notifications.signing import SECRET_URL, verify
from fhirbridge.notifications.topics import PAYLOAD_CONTENT_URL
from tests.notifications.receiver import RecordingReceiver, listening
from tests.notifications.test_topics import FIXED_CONTACT, status_of
from tests.notifications.tls import LoopbackCa, make_ca
from tests.security.callers import block_hospital
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, user_token
from tests.support import builders
from tests.support.api import outcome

SECRET = "tls-hemlighet-0123456789abcdef-npo-plattform"


@pytest.fixture
def ca(tmp_path: Path) -> LoopbackCa:
    return make_ca(tmp_path)


@pytest.fixture
async def https_receiver(ca: LoopbackCa) -> AsyncIterator[RecordingReceiver]:
    async with listening(ca.server) as receiving:
        yield receiving


@pytest.fixture
def secure_settings(secure_settings: Settings, ca: LoopbackCa, https_receiver: RecordingReceiver) -> Settings:
    """Production mode (tests/support/production.py), allowed to deliver to the https receiver,
    trusting the CA that signed its certificate."""
    return secure_settings.model_copy(
        update={
            "audit_flush_seconds": 3600,
            "subscription_allowed_hosts": [f"127.0.0.1:{https_receiver.port}"],
            "notify_ca_file": str(ca.ca_file),
        }
    )


def npo(rsa: SigningKey) -> dict[str, str]:
    """The NPÖ platform's own token: a service acting for no unit, which owns what it subscribes."""
    return bearer(mint(rsa, scope="system/*.rs system/Subscription.cruds", client_id="npo-platform"))


def fixed_contacts(endpoint: str) -> dict[str, Any]:
    body = builders.subscription(FIXED_CONTACT, endpoint, payload="application/fhir+json")
    body["channel"]["_payload"] = {"extension": [{"url": PAYLOAD_CONTENT_URL, "valueCode": "full-resource"}]}
    body["channel"]["extension"] = [{"url": SECRET_URL, "valueString": SECRET}]
    return body


async def deliver(secure_app: FastAPI, **changes: Any) -> int:
    context = secure_app.state.context
    worker = OutboxWorker.for_settings(context.repository.database, context.settings.model_copy(update=changes))
    try:
        delivered = 0
        while sent := await worker.deliver_due():
            delivered += sent
        return delivered
    finally:
        await worker.close()


async def new_fixed_contact(anyone: httpx.AsyncClient, rsa: SigningKey, world: World, patient: str) -> None:
    """The hospital's doctor makes themself the fixed care contact in the patient's team (the
    hospital sees its own information, whatever block the patient has on it elsewhere)."""
    doctor = user_token(rsa, world, "doctor", "hospital")
    path = f"/fhir/CareTeam/{world[f'{patient}-team']}"
    team = (await anyone.get(path, headers=doctor)).json()
    fixed = concept(CARE_ROLE_SYSTEM, CARE_ROLES, "fast-vardkontakt")
    team["participant"] = [dict(team["participant"][0], role=[fixed])]
    answer = await anyone.put(path, json=team, headers=doctor)
    assert answer.status_code == 200, answer.text


def verified(got: Any) -> dict[str, Any]:
    assert verify(SECRET.encode(), got.headers, got.body, int(got.headers["x-fhirbridge-timestamp"]))
    body: dict[str, Any] = json.loads(got.body)
    return body


async def test_a_services_topic_subscription_is_delivered_signed_over_https_and_never_what_it_may_not_read(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, rsa: SigningKey, https_receiver: RecordingReceiver
) -> None:
    # a user's token may not subscribe: a Subscription sends data out later, to its owner alone
    doctor = user_token(rsa, world, "doctor", "hospital")
    outcome(await anyone.post("/fhir/Subscription", json=fixed_contacts(https_receiver.url), headers=doctor), 403)
    created = await anyone.post("/fhir/Subscription", json=fixed_contacts(https_receiver.url), headers=npo(rsa))
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["status"] == "requested"
    assert await deliver(secure_app) == 1
    [handshake] = https_receiver.received
    assert handshake.line.startswith("POST /hook") and status_of(verified(handshake))["type"] == "handshake"
    shown = (await anyone.get(f"/fhir/Subscription/{subscription['id']}", headers=npo(rsa))).json()
    assert shown["status"] == "active"

    await block_hospital(anyone, rsa, world, patient="bertil")  # Bertil blocks the hospital's information
    team = f"/fhir/CareTeam/{world['bertil-team']}"
    assert (await anyone.get(team, headers=npo(rsa))).status_code in (403, 404)
    await new_fixed_contact(anyone, rsa, world, "bertil")
    assert await deliver(secure_app) == 0 and len(https_receiver.received) == 1  # nothing about Bertil

    await new_fixed_contact(anyone, rsa, world, "anna")
    assert await deliver(secure_app) == 1
    bundle = verified(https_receiver.received[-1])
    status = status_of(bundle)
    assert status["type"] == "event-notification" and status["events-since-subscription-start"] == "1"
    assert bundle["entry"][1]["resource"]["id"] == world["anna-team"]
    assert world["bertil-team"] not in https_receiver.received[-1].body.decode()


async def test_without_the_ca_the_receivers_certificate_is_refused_and_the_owner_sees_error(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, rsa: SigningKey, https_receiver: RecordingReceiver
) -> None:
    created = await anyone.post("/fhir/Subscription", json=fixed_contacts(https_receiver.url), headers=npo(rsa))
    assert created.status_code == 201, created.text
    assert await deliver(secure_app, notify_ca_file=None) == 0
    assert https_receiver.received == []
    shown = (await anyone.get(f"/fhir/Subscription/{created.json()['id']}", headers=npo(rsa))).json()
    assert shown["status"] == "error" and https_receiver.url in shown["error"]


async def test_the_owner_asking_active_from_error_gets_a_new_handshake_before_any_event(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, rsa: SigningKey, https_receiver: RecordingReceiver
) -> None:
    """A client does not set ``active`` itself (Subscriptions Backport IG, *Workflow*): a PUT or
    PATCH asking for it on a Subscription whose handshake failed leaves it ``requested`` and
    owes a new handshake, which the event owed meanwhile waits for."""
    created = await anyone.post("/fhir/Subscription", json=fixed_contacts(https_receiver.url), headers=npo(rsa))
    assert created.status_code == 201, created.text
    url = f"/fhir/Subscription/{created.json()['id']}"
    assert await deliver(secure_app, notify_ca_file=None) == 0  # the handshake fails: error
    failed = (await anyone.get(url, headers=npo(rsa))).json()
    assert failed["status"] == "error"
    for asked in (failed, dict(failed, status="active")):
        put = await anyone.put(url, json=asked, headers=npo(rsa))
        assert put.status_code == 200, put.text
        assert put.json()["status"] == "requested" and "error" not in put.json()
        assert await deliver(secure_app, notify_ca_file=None) == 0  # each owes a new handshake, which fails
        assert (await anyone.get(url, headers=npo(rsa))).json()["status"] == "error"
    patch = [{"op": "replace", "path": "/status", "value": "active"}]
    patched = await anyone.patch(url, json=patch, headers={**npo(rsa), "Content-Type": "application/json-patch+json"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "requested"
    await new_fixed_contact(anyone, rsa, world, "anna")
    assert await deliver(secure_app) == 2
    kinds = [status_of(verified(got))["type"] for got in https_receiver.received]
    assert kinds == ["handshake", "event-notification"]
    assert (await anyone.get(url, headers=npo(rsa))).json()["status"] == "active"


def test_a_ca_file_that_is_not_there_stops_the_service_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NOTIFY_CA_FILE"):
        Settings(notify_ca_file=str(tmp_path / "missing.pem"))

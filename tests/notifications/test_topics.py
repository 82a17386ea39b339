"""Topic-based Subscriptions (Subscriptions Backport IG for R4): the four topics, their filters and
payloads, validated when subscribed, and delivered as ``history`` Bundles that open with a
SubscriptionStatus, to a receiver on 127.0.0.1, on both databases (development mode)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES, PLAN_TYPE_SYSTEM, PLAN_TYPES, concept
from fhirbridge.fhir.instants import now_us
from fhirbridge.notifications.delivery import SECOND, OutboxWorker
from fhirbridge.notifications.endpoints import EndpointPolicy
from fhirbridge.notifications.signing import SECRET_URL, verify
from fhirbridge.notifications.topics import FILTER_URL, HEARTBEAT_URL, PAYLOAD_CONTENT_URL, TOPIC_BASE
from fhirbridge.storage.database import Database
from tests.notifications.receiver import Clock, RecordingReceiver
from tests.support import builders
from tests.support.api import BASE, create, outcome
from tests.support.contracts import contract_world

ESTABLISHED = f"{TOPIC_BASE}/contract-established"
REVISED = f"{TOPIC_BASE}/contract-revised"
FIXED_CONTACT = f"{TOPIC_BASE}/fixed-care-contact-changed"
SIP_LINKED = f"{TOPIC_BASE}/sip-linked"
HOUR = 3600 * SECOND
SECRET = "kontrakt-hemlighet-0123456789abcdef-region"


@pytest.fixture
async def client(service: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url=BASE) as http:
        yield http


def topic_subscription(
    topic: str, endpoint: str, *filters: str, content: str = "full-resource", heartbeat: Any = None
) -> dict[str, Any]:
    """A topic-based Subscription as the Backport IG's R4 profile spells it."""
    body = builders.subscription(topic, endpoint, payload="application/fhir+json")
    body["meta"] = {
        "profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"]
    }
    if filters:
        body["_criteria"] = {"extension": [{"url": FILTER_URL, "valueString": f} for f in filters]}
    body["channel"]["_payload"] = {"extension": [{"url": PAYLOAD_CONTENT_URL, "valueCode": content}]}
    if heartbeat is not None:
        body["channel"]["extension"] = [{"url": HEARTBEAT_URL, "valueUnsignedInt": heartbeat}]
    return body


async def deliver(service: FastAPI) -> int:
    """Deliver until nothing is due (one resource's versions go one round each, in order)."""
    database: Database = service.state.context.repository.database
    worker = OutboxWorker.for_settings(database, service.state.context.settings)
    delivered = 0
    try:
        while sent := await worker.deliver_due():
            delivered += sent
        return delivered
    finally:
        await worker.close()


async def subscribe(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver, body: dict[str, Any]
) -> dict[str, Any]:
    """Create a topic-based Subscription and let its handshake through (notifications/handshake.py):
    it is ``active`` afterwards; the receiver's handshake is forgotten."""
    created = await create(client, body)
    assert created["status"] == "requested"
    await deliver(service)
    assert receiver.received and status_of(json.loads(receiver.received[-1].body))["type"] == "handshake"
    receiver.received.clear()
    subscription: dict[str, Any] = (await client.get(f"/fhir/Subscription/{created['id']}")).json()
    assert subscription["status"] == "active"
    return subscription


def bundles(receiver: RecordingReceiver) -> list[dict[str, Any]]:
    return [json.loads(got.body) for got in receiver.received]


def status_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """The SubscriptionStatus parameters by name (``notification-event`` as a list of part dicts)."""
    status = bundle["entry"][0]["resource"]
    assert status["resourceType"] == "Parameters"
    found: dict[str, Any] = {"notification-event": []}
    for parameter in status["parameter"]:
        if parameter["name"] == "notification-event":
            found["notification-event"].append(
                {p["name"]: next(v for k, v in p.items() if k != "name") for p in parameter["part"]}
            )
        else:
            found[parameter["name"]] = next(v for k, v in parameter.items() if k != "name")
    return found


async def revise(client: httpx.AsyncClient, resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    response = await client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=dict(resource, **changes))
    assert response.status_code == 200, response.text
    revised: dict[str, Any] = response.json()
    return revised


async def count(client: httpx.AsyncClient, resource_type: str) -> int:
    bundle = (await client.get(f"/fhir/{resource_type}", params={"_summary": "count"})).json()
    return int(bundle["total"])


# -- what a Subscription may ask -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "expression"),
    [
        ({"criteria": f"{TOPIC_BASE}/contract-cancelled"}, 422, "Subscription.criteria"),
        (
            {"_criteria": {"extension": [{"url": FILTER_URL, "valueString": "CarePlan?bogus=1"}]}},
            400,
            "Subscription.criteria.extension[0].valueString",
        ),
        (
            {"_criteria": {"extension": [{"url": FILTER_URL, "valueString": "Goal?patient=Patient/1"}]}},
            400,
            "Subscription.criteria.extension[0].valueString",
        ),
        (
            {"_criteria": {"extension": [{"url": FILTER_URL, "valueString": "CarePlan?patient"}]}},
            400,
            "Subscription.criteria.extension[0].valueString",
        ),
    ],
)
async def test_an_unknown_topic_or_a_malformed_filter_is_refused_naming_it_and_nothing_is_stored(
    client: httpx.AsyncClient, receiver: RecordingReceiver, change: dict[str, Any], status: int, expression: str
) -> None:
    body = dict(topic_subscription(ESTABLISHED, receiver.url), **change)
    refused = outcome(await client.post("/fhir/Subscription", json=body), status)
    assert refused["issue"][0]["expression"] == [expression]
    assert await count(client, "Subscription") == 0


@pytest.mark.parametrize(
    ("content", "heartbeat", "expression"),
    [
        ("everything", None, "Subscription.channel.payload.extension"),
        ("id-only", 0, "Subscription.channel.extension[0].valueUnsignedInt"),
    ],
)
async def test_an_unknown_payload_content_or_heartbeat_is_a_422(
    client: httpx.AsyncClient, receiver: RecordingReceiver, content: str, heartbeat: Any, expression: str
) -> None:
    body = topic_subscription(ESTABLISHED, receiver.url, content=content, heartbeat=heartbeat)
    refused = outcome(await client.post("/fhir/Subscription", json=body), 422)
    assert refused["issue"][0]["expression"] == [expression]
    assert await count(client, "Subscription") == 0


# -- the four topics ---------------------------------------------------------------------------------


async def test_an_established_contract_is_sent_as_a_history_bundle_with_its_status_first(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    patient = world["patient"]["id"]
    subscription = await subscribe(
        client, service, receiver, topic_subscription(ESTABLISHED, receiver.url, f"CarePlan?patient=Patient/{patient}")
    )
    assert subscription["status"] == "active"
    draft = await create(client, dict(world["contract"], status="draft"))
    await revise(client, draft, description="Utkast ändrat")  # still a draft: no event
    await revise(client, dict(draft, meta={"versionId": "2"}), status="active")
    assert await deliver(service) == 2
    first, second = bundles(receiver)
    assert first["type"] == "history" and receiver.received[0].headers["content-type"] == "application/fhir+json"
    status = status_of(first)
    assert status["subscription"] == {"reference": f"Subscription/{subscription['id']}"}
    assert status["topic"] == ESTABLISHED and status["type"] == "event-notification"
    assert status["events-since-subscription-start"] == "1"
    assert status["notification-event"][0]["event-number"] == "1"
    assert status["notification-event"][0]["focus"] == {"reference": f"CarePlan/{draft['id']}/_history/1"}
    assert first["entry"][1]["resource"]["id"] == draft["id"] and first["entry"][1]["resource"]["status"] == "draft"
    assert status_of(second)["notification-event"][0]["event-number"] == "2"
    assert second["entry"][1]["resource"]["status"] == "active"


async def test_a_filter_for_another_patient_is_sent_nothing(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    other = await create(client, builders.patient())
    await subscribe(
        client,
        service,
        receiver,
        topic_subscription(ESTABLISHED, receiver.url, f"CarePlan?patient=Patient/{other['id']}"),
    )
    await create(client, world["contract"])
    assert await deliver(service) == 0 and receiver.received == []


async def test_each_revision_is_an_event_numbered_per_subscription_and_id_only_sends_the_url(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    await subscribe(client, service, receiver, topic_subscription(REVISED, receiver.url, content="id-only"))
    empty = await subscribe(client, service, receiver, topic_subscription(REVISED, receiver.url, content="empty"))
    plan = await create(client, world["contract"])  # a creation is no revision
    plan = await revise(client, plan, description="Första ändringen")
    await revise(client, plan, description="Andra ändringen")
    assert await deliver(service) == 4
    numbers: dict[str, list[str]] = {}
    for bundle in bundles(receiver):
        status = status_of(bundle)
        numbers.setdefault(status["subscription"]["reference"], []).extend(
            e["event-number"] for e in status["notification-event"]
        )
        if status["subscription"]["reference"] == f"Subscription/{empty['id']}":
            assert len(bundle["entry"]) == 1 and "focus" not in status["notification-event"][0]
        else:
            assert bundle["entry"][1]["fullUrl"].endswith(f"CarePlan/{plan['id']}")
            assert "resource" not in bundle["entry"][1]
    assert sorted(numbers.values()) == [["1", "2"], ["1", "2"]]


async def test_a_new_fixed_care_contact_is_an_event_and_a_renamed_team_is_not(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    await subscribe(
        client,
        service,
        receiver,
        topic_subscription(FIXED_CONTACT, receiver.url, f"CareTeam?patient=Patient/{world['patient']['id']}"),
    )
    team = await revise(client, world["team"], name="Vårdteam Söder")
    assert await deliver(service) == 0
    anders = await create(client, builders.practitioner("SE2321000198-P0009", "Berg", "Anders"))
    role = await create(client, builders.practitioner_role(anders["id"], world["unit"]["id"]))
    participant = {
        "role": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, "fast-vardkontakt")],
        "member": {"reference": f"PractitionerRole/{role['id']}"},
    }
    await revise(client, team, participant=[participant])
    assert await deliver(service) == 1
    [bundle] = bundles(receiver)
    assert bundle["entry"][1]["resource"]["participant"][0]["member"]["reference"] == f"PractitionerRole/{role['id']}"


async def test_a_contract_that_links_a_sip_is_an_event_and_one_that_keeps_it_is_not(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    patient = world["patient"]["id"]
    subscription = await subscribe(client, service, receiver, topic_subscription(SIP_LINKED, receiver.url))
    sip = await create(
        client,
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "category": [concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, "sip")],
            "title": "SIP för Tolvan",
            "subject": {"reference": f"Patient/{patient}"},
        },
    )
    plan = await create(client, world["contract"])
    assert await deliver(service) == 0
    plan = await revise(client, plan, supportingInfo=[{"reference": f"CarePlan/{sip['id']}"}])
    await revise(client, plan, description="Ändrad, SIP kvar")
    assert await deliver(service) == 1
    [bundle] = bundles(receiver)
    status = status_of(bundle)
    assert status["subscription"]["reference"] == f"Subscription/{subscription['id']}"
    assert bundle["entry"][1]["resource"]["supportingInfo"] == [{"reference": f"CarePlan/{sip['id']}"}]


# -- heartbeats ------------------------------------------------------------------------------------------


async def test_a_heartbeat_goes_after_a_period_in_which_nothing_was_sent(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    subscription = await subscribe(
        client, service, receiver, topic_subscription(ESTABLISHED, receiver.url, heartbeat=60)
    )
    await subscribe(client, service, receiver, topic_subscription(REVISED, receiver.url))  # asks for no heartbeat
    database: Database = service.state.context.repository.database
    clock = Clock()
    worker = OutboxWorker(
        database, max_age_us=HOUR, clock=clock, endpoints=EndpointPolicy.from_settings(service.state.context.settings)
    )
    try:
        assert await worker.heartbeats() == 0  # its period starts when the worker first sees it
        clock.now += 61 * SECOND
        assert await worker.heartbeats() == 1
        assert await worker.heartbeats() == 0  # not again within the period
        [heartbeat] = bundles(receiver)
        status = status_of(heartbeat)
        assert (
            status["type"] == "heartbeat"
            and status["subscription"]["reference"] == f"Subscription/{subscription['id']}"
        )
        assert status["events-since-subscription-start"] == "0" and len(heartbeat["entry"]) == 1
        await create(client, world["contract"])
        clock.now += 30 * SECOND
        assert await worker.deliver_due() == 1  # an event notification restarts the period
        clock.now += 45 * SECOND
        assert await worker.heartbeats() == 0
        clock.now += 20 * SECOND
        assert await worker.heartbeats() == 1
        assert status_of(bundles(receiver)[-1])["events-since-subscription-start"] == "1"
    finally:
        await worker.close()


async def test_a_topic_notification_and_a_heartbeat_are_signed_when_the_subscription_has_a_secret(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    world = await contract_world(client)
    body = topic_subscription(ESTABLISHED, receiver.url, heartbeat=60)
    body["channel"]["extension"].append({"url": SECRET_URL, "valueString": SECRET})
    await subscribe(client, service, receiver, body)
    await create(client, world["contract"])
    assert await deliver(service) == 1
    clock = Clock()
    settings = service.state.context.settings
    worker = OutboxWorker(
        service.state.context.repository.database,
        max_age_us=HOUR,
        clock=clock,
        endpoints=EndpointPolicy.from_settings(settings),
    )
    try:
        clock.now += 61 * SECOND
        assert await worker.heartbeats() == 1
    finally:
        await worker.close()
    notification, heartbeat = receiver.received
    assert status_of(json.loads(heartbeat.body))["type"] == "heartbeat"
    for got in (notification, heartbeat):
        stamp = int(got.headers["x-fhirbridge-timestamp"])
        assert verify(SECRET.encode(), got.headers, got.body, stamp)
        assert not verify(SECRET.encode(), got.headers, got.body + b" ", stamp)


async def test_the_worker_sees_a_subscription_added_or_turned_off_after_its_last_poll(
    client: httpx.AsyncClient, service: FastAPI, receiver: RecordingReceiver
) -> None:
    database: Database = service.state.context.repository.database
    clock = Clock()
    worker = OutboxWorker(
        database, max_age_us=HOUR, clock=clock, endpoints=EndpointPolicy.from_settings(service.state.context.settings)
    )
    try:
        assert await worker.heartbeats() == 0  # none yet: the worker remembers that
        first = await subscribe(client, service, receiver, topic_subscription(REVISED, receiver.url, heartbeat=60))
        clock.now = max(clock.now, now_us()) + 61 * SECOND
        assert await worker.heartbeats() == 1
        await revise(client, first, status="off")
        second = await subscribe(client, service, receiver, topic_subscription(REVISED, receiver.url, heartbeat=60))
        receiver.received.clear()
        clock.now = max(clock.now, now_us()) + 61 * SECOND
        assert await worker.heartbeats() == 1
        [heartbeat] = bundles(receiver)
        assert status_of(heartbeat)["subscription"]["reference"] == f"Subscription/{second['id']}"
    finally:
        await worker.close()

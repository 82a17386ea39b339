"""R4 rest-hook Subscriptions (R4 subscription.html): what the server accepts, and what it owes.

The outbox is written in the same transaction as the change; these tests look at it through
the delivery worker, with respx standing in for the receivers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI

from fhirbridge.identity import SYSTEM
from fhirbridge.notifications import outbox
from fhirbridge.notifications.delivery import OutboxWorker
from fhirbridge.repository import FhirRepository
from fhirbridge.validation.pipeline import validate_resource
from tests.support import builders
from tests.support.api import create, expressions, history, outcome, patient_and_practitioner

HOOK = "https://notify.region.example/hook"
HOUR = 3_600_000_000


def _worker(app: FastAPI) -> OutboxWorker:
    return OutboxWorker(app.state.context.repository.database, max_age_us=72 * HOUR)


async def test_a_requested_subscription_becomes_active(client: httpx.AsyncClient) -> None:
    stored = await create(client, builders.subscription("Communication?recipient=Practitioner/karin"))
    assert stored["status"] == "active"


@pytest.mark.parametrize(
    ("change", "status", "expression"),
    [
        ({"channel": {"type": "websocket"}}, 422, "Subscription.channel.type"),
        ({"channel": {"type": "rest-hook", "endpoint": "ftp://x"}}, 422, "Subscription.channel.endpoint"),
        (
            {"channel": {"type": "rest-hook", "endpoint": HOOK, "payload": "application/fhir+xml"}},
            422,
            "Subscription.channel.payload",
        ),
        ({"criteria": "Communication?favoritfärg=blå"}, 400, "Subscription.criteria"),
        ({"criteria": "Observation?code=x"}, 400, "Subscription.criteria"),
        ({"status": "paused"}, 400, "Subscription.status"),
    ],
)
async def test_a_subscription_the_server_cannot_honour_is_refused(
    client: httpx.AsyncClient, change: dict[str, Any], status: int, expression: str
) -> None:
    body = dict(builders.subscription("Communication?recipient=Practitioner/karin"), **change)
    rejected = outcome(await client.post("/fhir/Subscription", json=body), status)
    assert expression in expressions(rejected)
    assert await history(client, "Subscription/_history") == []


@respx.mock(assert_all_called=False)
async def test_a_matching_write_is_posted_to_the_endpoint_with_its_headers(
    respx_mock: respx.MockRouter, app: FastAPI, client: httpx.AsyncClient
) -> None:
    hook = respx_mock.post(HOOK).mock(return_value=httpx.Response(200))
    patient, karin = await patient_and_practitioner(client)
    other = await create(client, builders.practitioner("SE2321000198-P0KL9", "Ek", "Bo"))
    await create(
        client,
        builders.messages_to(karin["id"], HOOK, header=["Authorization: Bearer s3cret"]),
    )
    await create(client, builders.communication(patient["id"], other["id"]))  # not for Karin
    await create(client, builders.communication(patient["id"], karin["id"]))

    assert await _worker(app).deliver_due() == 1
    assert hook.call_count == 1
    request = hook.calls.last.request
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.content == b""  # no payload: a bare notification (R4 subscription.html)
    assert await _worker(app).deliver_due() == 0  # delivered once, not again


@respx.mock(assert_all_called=False)
async def test_with_a_payload_the_resource_is_put_to_the_endpoint(
    respx_mock: respx.MockRouter, app: FastAPI, client: httpx.AsyncClient
) -> None:
    patient, karin = await patient_and_practitioner(client)
    await create(
        client,
        builders.messages_to(
            karin["id"],
            "https://notify.region.example/fhir",
            payload="application/fhir+json",
        ),
    )
    message = await create(client, builders.communication(patient["id"], karin["id"]))
    route = respx_mock.put(f"https://notify.region.example/fhir/Communication/{message['id']}").mock(
        return_value=httpx.Response(200)
    )
    assert await _worker(app).deliver_due() == 1
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/fhir+json"
    assert httpx.Response(200, content=sent.content).json()["id"] == message["id"]


async def test_an_inactive_subscription_owes_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    patient, karin = await patient_and_practitioner(client)
    off = dict(builders.subscription(f"Communication?recipient=Practitioner/{karin['id']}"), status="off")
    assert (await create(client, off))["status"] == "off"
    await create(client, builders.communication(patient["id"], karin["id"]))
    assert await outbox.pending(app.state.context.repository.database) == 0


@pytest.mark.parametrize(
    ("channel", "expression"),
    [
        ({"header": ["Authorization: Bearer åäö"]}, "Subscription.channel.header[0]"),
        ({"header": ["no colon here"]}, "Subscription.channel.header[0]"),
        ({"endpoint": "http://[::1/x"}, "Subscription.channel.endpoint"),
    ],
)
async def test_a_channel_that_cannot_be_sent_is_refused(
    client: httpx.AsyncClient, channel: dict[str, Any], expression: str
) -> None:
    body = builders.subscription("Communication?recipient=Practitioner/karin")
    body["channel"].update(channel)
    rejected = outcome(await client.post("/fhir/Subscription", json=body), 422)
    assert expression in expressions(rejected)


async def test_re_sending_a_subscription_changes_nothing(client: httpx.AsyncClient) -> None:
    stored = await create(client, builders.subscription("Communication?recipient=Practitioner/karin"))
    body = dict(builders.subscription("Communication?recipient=Practitioner/karin"), id=stored["id"])
    again = await client.put(f"/fhir/Subscription/{stored['id']}", json=body)
    assert again.status_code == 200 and again.json()["meta"]["versionId"] == "1"


async def test_a_subscription_whose_criteria_no_longer_parse_does_not_fail_other_writes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Stored before a search parameter went away: written without the server's activation check.
    plain = FhirRepository(app.state.context.repository.database)
    broken = dict(builders.subscription("Communication?gone-parameter=x"), status="active")
    validated = validate_resource(broken, "Subscription", url_id=None, local_base=None)
    await plain.write(SYSTEM, None, lambda unit: unit.create(validated))
    patient, karin = await patient_and_practitioner(client)
    await create(client, builders.communication(patient["id"], karin["id"]))


@respx.mock(assert_all_called=False)
async def test_turning_a_subscription_off_or_past_its_end_stops_notifications(
    respx_mock: respx.MockRouter, app: FastAPI, client: httpx.AsyncClient
) -> None:
    hook = respx_mock.post(HOOK).mock(return_value=httpx.Response(200))
    patient, karin = await patient_and_practitioner(client)
    subscription = await create(client, builders.messages_to(karin["id"], HOOK))
    await create(client, builders.communication(patient["id"], karin["id"]))
    assert await outbox.pending(app.state.context.repository.database) == 1
    subscription["status"] = "off"
    assert (await client.put(f"/fhir/Subscription/{subscription['id']}", json=subscription)).status_code == 200
    await create(client, builders.communication(patient["id"], karin["id"]))
    assert await outbox.pending(app.state.context.repository.database) == 1  # nothing new owed
    ended = dict(builders.messages_to(karin["id"], HOOK), end="2020-01-01T00:00:00Z")
    await create(client, ended)
    await create(client, builders.communication(patient["id"], karin["id"]))
    assert await outbox.pending(app.state.context.repository.database) == 1
    assert await _worker(app).deliver_due() == 0  # and what was owed to the subscription now off is given up
    assert hook.call_count == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
        "http://2130706433/hook",
        "http://0.0.0.0/hook",
        "http://[::]/hook",
        "http://10.0.0.1/hook",
        "http://172.16.5.4/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://100.64.0.1/hook",
        "http://224.0.0.1/hook",
        "https://planner:hemligt@journal.region.example/hook",
        "gopher://127.0.0.1:6379/_FLUSHALL",
    ],
)
async def test_an_endpoint_the_rule_forbids_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    body = builders.subscription("Communication?recipient=Practitioner/karin", endpoint)
    rejected = outcome(await client.post("/fhir/Subscription", json=body), 422)
    assert expressions(rejected) == ["Subscription.channel.endpoint"]
    assert await history(client, "Subscription/_history") == []


async def test_an_update_to_a_forbidden_endpoint_keeps_the_subscription_as_it_was(client: httpx.AsyncClient) -> None:
    stored = await create(client, builders.subscription("Communication?recipient=Practitioner/karin", HOOK))
    moved = dict(stored, channel=dict(stored["channel"], endpoint="http://169.254.169.254/latest/"))
    rejected = outcome(await client.put(f"/fhir/Subscription/{stored['id']}", json=moved), 422)
    assert expressions(rejected) == ["Subscription.channel.endpoint"]
    current = (await client.get(f"/fhir/Subscription/{stored['id']}")).json()
    assert current["meta"]["versionId"] == "1" and current["channel"]["endpoint"] == HOOK


async def test_a_forbidden_endpoint_in_a_transaction_refuses_the_whole_bundle(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": builders.patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": builders.subscription("Patient?gender=male", "http://[::ffff:a9fe:a9fe]/"),
                "request": {"method": "POST", "url": "Subscription"},
            },
        ],
    }
    rejected = outcome(await client.post("/fhir", json=bundle), 422)
    assert expressions(rejected) == ["Bundle.entry[1].resource.channel.endpoint"]
    assert await history(client, "_history") == []

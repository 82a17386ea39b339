"""``$status`` and ``$events`` of a topic-based Subscription in production mode (bearer tokens), on
both databases: the owner reads its status and replays its events by number; another client, a
care unit's system and a patient find no such Subscription; a replay out of range is a 400
naming the parameter; and the CapabilityStatement lists the topics and both operations."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES, concept
from fhirbridge.notifications.topics import FILTER_URL, PAYLOAD_CONTENT_URL, TOPIC_BASE, TOPIC_CANONICAL_URL
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, patient_token, user_token
from tests.support import builders
from tests.support.api import outcome

FIXED_CONTACT = f"{TOPIC_BASE}/fixed-care-contact-changed"


@pytest.fixture
def secure_settings(secure_settings: Settings) -> Settings:
    """Production mode (tests/support/production.py), its access log flushed at the end."""
    return secure_settings.model_copy(update={"audit_flush_seconds": 3600})


def service(rsa: SigningKey, client_id: str = "region-integration") -> dict[str, str]:
    return bearer(mint(rsa, scope="system/*.cruds", client_id=client_id))


async def subscribe(anyone: httpx.AsyncClient, rsa: SigningKey, patient_id: str, client_id: str) -> str:
    body = builders.subscription(FIXED_CONTACT, payload="application/fhir+json")
    body["_criteria"] = {"extension": [{"url": FILTER_URL, "valueString": f"CareTeam?patient=Patient/{patient_id}"}]}
    body["channel"]["_payload"] = {"extension": [{"url": PAYLOAD_CONTENT_URL, "valueCode": "full-resource"}]}
    created = await anyone.post("/fhir/Subscription", json=body, headers=service(rsa, client_id))
    assert created.status_code == 201, created.text
    subscription_id: str = created.json()["id"]
    return subscription_id


async def new_fixed_contact(anyone: httpx.AsyncClient, rsa: SigningKey, world: World, patient: str) -> None:
    """The doctor of the patient's team becomes the patient's fixed care contact."""
    path = f"/fhir/CareTeam/{world[f'{patient}-team']}"
    team = (await anyone.get(path, headers=service(rsa))).json()
    fixed = concept(CARE_ROLE_SYSTEM, CARE_ROLES, "fast-vardkontakt")
    team["participant"] = [dict(team["participant"][0], role=[fixed])]
    answer = await anyone.put(path, json=team, headers=service(rsa))
    assert answer.status_code == 200, answer.text


def parameters(status: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: next(v for k, v in p.items() if k != "name") for p in status["parameter"]}


async def test_the_owner_reads_the_status_and_replays_its_events_by_number(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    mine = await subscribe(anyone, rsa, world["anna"], "region-integration")
    theirs = await subscribe(anyone, rsa, world["bertil"], "npo-platform")
    await new_fixed_contact(anyone, rsa, world, "anna")
    owner = service(rsa)
    status = await anyone.get(f"/fhir/Subscription/{mine}/$status", headers=owner)
    assert status.status_code == 200, status.text
    shown = parameters(status.json())
    assert shown["type"] == "query-status" and shown["events-since-subscription-start"] == "1"
    assert shown["topic"] == FIXED_CONTACT  # no worker here: its handshake is still owed, its events kept
    assert shown["status"] == "requested"
    events = await anyone.get(f"/fhir/Subscription/{mine}/$events", params={"eventsSinceNumber": "1"}, headers=owner)
    assert events.status_code == 200, events.text
    bundle = events.json()
    assert bundle["type"] == "history"
    [event] = [p for p in bundle["entry"][0]["resource"]["parameter"] if p["name"] == "notification-event"]
    assert {p["name"]: next(v for k, v in p.items() if k != "name") for p in event["part"]}["event-number"] == "1"
    assert bundle["entry"][1]["resource"]["id"] == world["anna-team"]
    npo = service(rsa, "npo-platform")
    other = parameters((await anyone.get(f"/fhir/Subscription/{theirs}/$status", headers=npo)).json())
    assert other["events-since-subscription-start"] == "0"  # Bertil's team did not change


@pytest.mark.parametrize("operation", ["$status", "$events"])
async def test_nobody_but_the_owner_finds_the_subscription(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, operation: str
) -> None:
    mine = await subscribe(anyone, rsa, world["anna"], "region-integration")
    await new_fixed_contact(anyone, rsa, world, "anna")
    for caller in (
        service(rsa, "npo-platform"),
        user_token(rsa, world, "doctor", "hospital"),
        patient_token(rsa, world, "anna"),
    ):
        answer = await anyone.get(f"/fhir/Subscription/{mine}/{operation}", headers=caller)
        assert answer.status_code in (403, 404), answer.text
        assert world["anna-team"] not in answer.text
        outcome(answer, answer.status_code)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"eventsSinceNumber": "2"}, "eventsSinceNumber"),
        ({"eventsSinceNumber": "0"}, "eventsSinceNumber"),
        ({"eventsSinceNumber": "x"}, "eventsSinceNumber"),
        ({"eventsUntilNumber": "5"}, "eventsUntilNumber"),
    ],
)
async def test_a_replay_out_of_range_is_a_400_naming_the_parameter(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, params: dict[str, str], name: str
) -> None:
    mine = await subscribe(anyone, rsa, world["anna"], "region-integration")
    await new_fixed_contact(anyone, rsa, world, "anna")
    refused = outcome(await anyone.get(f"/fhir/Subscription/{mine}/$events", params=params, headers=service(rsa)), 400)
    assert refused["issue"][0]["expression"] == [name]


async def test_the_capability_statement_lists_the_topics_and_the_operations(anyone: httpx.AsyncClient) -> None:
    statement = (await anyone.get("/fhir/metadata")).json()
    [subscription] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    offered = [e["valueCanonical"] for e in subscription["extension"] if e["url"] == TOPIC_CANONICAL_URL]
    assert FIXED_CONTACT in offered and len(offered) == 4
    assert {"status", "events"} <= {o["name"] for o in subscription["operation"]}


async def test_any_authenticated_caller_lists_the_topics_the_capability_statement_names(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    statement = (await anyone.get("/fhir/metadata")).json()
    [subscription] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    offered = [e["valueCanonical"] for e in subscription["extension"] if e["url"] == TOPIC_CANONICAL_URL]
    assert "topic-list" in {o["name"] for o in subscription["operation"]}
    for caller in (service(rsa), user_token(rsa, world, "doctor", "hospital"), patient_token(rsa, world, "anna")):
        for answer in (
            await anyone.get("/fhir/Subscription/$topic-list", headers=caller),
            await anyone.post("/fhir/Subscription/$topic-list", headers=caller),
        ):
            assert answer.status_code == 200, answer.text
            listed = answer.json()
            assert listed["resourceType"] == "Parameters"
            assert {p["name"] for p in listed["parameter"]} == {"subscription-topic-canonical"}
            assert [p["valueCanonical"] for p in listed["parameter"]] == offered
    outcome(await anyone.get("/fhir/Subscription/$topic-list"), 401)


async def test_the_openapi_document_describes_the_topic_list(anyone: httpx.AsyncClient) -> None:
    paths = (await anyone.get("/openapi.json")).json()["paths"]
    listing = paths["/fhir/Subscription/$topic-list"]
    assert {"get", "post"} <= set(listing)
    assert listing["get"]["security"]

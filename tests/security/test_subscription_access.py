"""Who may subscribe, who sees a Subscription, and what it is sent (docs/security.md, *Subscriptions*).

Only a service (a system token acting for no unit) writes Subscriptions; each belongs to the
client that created it, and is sent only what that client may see, blocks included.  These
tests look at the outbox rows the writes leave instead of delivering them: nothing is sent.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.identity import SYSTEM
from fhirbridge.notifications.owners import OWNER_SYSTEM
from fhirbridge.repository import FhirRepository
from fhirbridge.storage.database import Database
from fhirbridge.validation.pipeline import validate_resource
from tests.security.callers import ADMIN, block_hospital, unit_system
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, patient_token, user_token
from tests.support import builders
from tests.support.api import match_ids, outcome


def service(key: SigningKey, client_id: str = "region-integration", scope: str = ADMIN) -> dict[str, str]:
    """A system token acting for no unit: the region's integration engine, the NPÖ platform."""
    return bearer(mint(key, scope=scope, client_id=client_id))


def database(app: FastAPI) -> Database:
    found: Database = app.state.context.repository.database
    return found


async def owed(app: FastAPI) -> list[tuple[str, str]]:
    """(Subscription id, resource) of every notification still owed."""
    async with database(app).reader() as conn:
        rows = await conn.fetch(
            "SELECT subscription_id, res_type, res_id FROM outbox "
            "WHERE delivered IS NULL AND failed IS NULL ORDER BY pk"
        )
    return [(row[0], f"{row[1]}/{row[2]}") for row in rows]


async def subscribe(client: httpx.AsyncClient, headers: dict[str, str], criteria: str, **channel: Any) -> str:
    body = builders.subscription(criteria, payload="application/fhir+json", **channel)
    response = await client.post("/fhir/Subscription", json=body, headers=headers)
    assert response.status_code == 201, response.text
    subscription_id: str = response.json()["id"]
    return subscription_id


async def revise(client: httpx.AsyncClient, headers: dict[str, str], plan_id: str, description: str) -> None:
    plan = (await client.get(f"/fhir/CarePlan/{plan_id}", headers=headers)).json()
    plan["description"] = description
    assert (await client.put(f"/fhir/CarePlan/{plan_id}", json=plan, headers=headers)).status_code == 200


# -- who may subscribe ---------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["unit system", "user", "patient"])
async def test_only_a_service_may_subscribe(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI, caller: str
) -> None:
    headers = {
        "unit system": unit_system(rsa, world, "hospital"),
        "user": user_token(rsa, world, "doctor", "hospital"),
        "patient": patient_token(rsa, world, "anna", scope="patient/*.cruds"),
    }[caller]
    body = builders.subscription(f"CarePlan?subject=Patient/{world['anna']}", payload="application/fhir+json")
    outcome(await anyone.post("/fhir/Subscription", json=body, headers=headers), 403)
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": body, "request": {"method": "POST", "url": "Subscription"}}],
    }
    assert (await anyone.post("/fhir", json=transaction, headers=headers)).status_code == 403
    await revise(anyone, service(rsa), world["anna-plan"], "Ändrad")
    assert await owed(secure_app) == []


async def test_a_unit_systems_subscription_is_not_fed_other_units_patients(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI
) -> None:
    """The review's first attack: a unit's system subscribes to every active plan."""
    body = builders.subscription("CarePlan?status=active", payload="application/fhir+json")
    outcome(await anyone.post("/fhir/Subscription", json=body, headers=unit_system(rsa, world)), 403)
    await revise(anyone, service(rsa), world["anna-plan"], "Ändrad")
    assert await owed(secure_app) == [], "Anna's plan is owed to the outsider's endpoint"


async def test_a_subscription_needs_read_access_to_what_its_criteria_search(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    body = builders.subscription(f"CarePlan?subject=Patient/{world['anna']}")
    narrow = service(rsa, "npo-platform", "system/Subscription.cruds system/Communication.rs")
    refused = await anyone.post("/fhir/Subscription", json=body, headers=narrow)
    outcome(refused, 403)
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert 'scope="system/CarePlan.r"' in refused.headers["www-authenticate"]
    enough = service(rsa, "npo-platform", "system/Subscription.cruds system/CarePlan.r")
    assert (await anyone.post("/fhir/Subscription", json=body, headers=enough)).status_code == 201


async def test_a_service_token_without_a_client_id_owns_no_subscription(
    anyone: httpx.AsyncClient, rsa: SigningKey
) -> None:
    anonymous = bearer(mint(rsa, scope=ADMIN, client_id=None))
    body = builders.subscription("Communication?recipient=Practitioner/karin")
    outcome(await anyone.post("/fhir/Subscription", json=body, headers=anonymous), 403)
    outcome(await anyone.get("/fhir/Subscription", headers=anonymous), 403)


# -- whose a Subscription is ---------------------------------------------------------------------


async def test_the_server_records_the_creating_client_as_owner(anyone: httpx.AsyncClient, rsa: SigningKey) -> None:
    body = builders.subscription("Communication?recipient=Practitioner/karin")
    body["meta"] = {"tag": [{"system": OWNER_SYSTEM, "code": "npo-platform"}, {"system": "urn:x", "code": "kept"}]}
    response = await anyone.post("/fhir/Subscription", json=body, headers=service(rsa))
    assert response.status_code == 201, response.text
    assert response.json()["meta"]["tag"] == [
        {"system": "urn:x", "code": "kept"},
        {"system": OWNER_SYSTEM, "code": "region-integration"},
    ]
    claimed = await anyone.get(f"/fhir/Subscription/{response.json()['id']}", headers=service(rsa, "npo-platform"))
    assert claimed.status_code == 404


async def test_a_unit_system_cannot_read_or_redirect_another_units_subscription(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The review's third attack, by a unit's system and by another service: the feed and its
    secret header do not exist for them, and they cannot move or remove it."""
    feed_id = await subscribe(
        anyone,
        service(rsa),
        f"CarePlan?subject=Patient/{world['anna']}",
        header=["Authorization: Bearer hospital-secret"],
    )
    feed = (await anyone.get(f"/fhir/Subscription/{feed_id}", headers=service(rsa))).json()
    for other, put, delete in ((unit_system(rsa, world), 403, 403), (service(rsa, "npo-platform"), 405, 200)):
        instance = f"/fhir/Subscription/{feed_id}"
        for url in (instance, f"{instance}/_history", f"{instance}/_history/1"):
            read = await anyone.get(url, headers=other)
            assert read.status_code == 404 and "hospital-secret" not in read.text, url
        for url in ("/fhir/Subscription", "/fhir/Subscription/_history"):
            listed = await anyone.get(url, headers=other)
            assert listed.status_code == 200 and "hospital-secret" not in listed.text, url
            assert listed.json().get("entry", []) == [], url
        hijacked = dict(feed, channel=dict(feed["channel"], endpoint="https://attacker.example.org/x"))
        hijacked.pop("meta")
        # a unit's system may write no Subscription; to another service it does not exist (PUT
        # creates none, DELETE finds nothing to delete: test_subscription_existence.py)
        outcome(await anyone.put(f"/fhir/Subscription/{feed_id}", json=hijacked, headers=other), put)
        outcome(await anyone.delete(f"/fhir/Subscription/{feed_id}", headers=other), delete)
        conditional = await anyone.delete("/fhir/Subscription", params={"status": "active"}, headers=other)
        assert conditional.status_code in (200, 204), conditional.text  # a match they may not see does not match
    kept = (await anyone.get(f"/fhir/Subscription/{feed_id}", headers=service(rsa))).json()
    assert kept["meta"]["versionId"] == "1" and kept["channel"] == feed["channel"]


async def test_the_owner_reads_searches_changes_and_deletes_its_own(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    mine = await subscribe(anyone, service(rsa), f"CarePlan?subject=Patient/{world['anna']}")
    theirs = await subscribe(anyone, service(rsa, "npo-platform"), f"CarePlan?subject=Patient/{world['bertil']}")
    searched = (await anyone.get("/fhir/Subscription", params={"_total": "accurate"}, headers=service(rsa))).json()
    assert match_ids(searched) == [mine] and "total" not in searched  # no count over what others hold
    stored = (await anyone.get(f"/fhir/Subscription/{mine}", headers=service(rsa))).json()
    moved = dict(stored, channel=dict(stored["channel"], endpoint="https://journal.region.example/elsewhere"))
    assert (await anyone.put(f"/fhir/Subscription/{mine}", json=moved, headers=service(rsa))).status_code == 200
    assert (await anyone.delete(f"/fhir/Subscription/{mine}", headers=service(rsa))).status_code in (200, 204)
    other = service(rsa, "npo-platform")
    assert (await anyone.get(f"/fhir/Subscription/{theirs}", headers=other)).status_code == 200


# -- what a Subscription is sent -----------------------------------------------------------------


async def test_a_service_is_sent_what_it_may_see(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI
) -> None:
    feed = await subscribe(anyone, service(rsa, "npo-platform"), "CarePlan?status=active")
    await revise(anyone, service(rsa), world["anna-plan"], "Ändrad")
    await revise(anyone, service(rsa), world["bertil-plan"], "Ändrad")
    assert await owed(secure_app) == [
        (feed, f"CarePlan/{world['anna-plan']}"),
        (feed, f"CarePlan/{world['bertil-plan']}"),
    ]


async def test_a_services_subscription_does_not_deliver_blocked_information(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI
) -> None:
    """The review's second attack: blocks apply to services, and so to what they are sent."""
    await block_hospital(anyone, rsa, world)
    npo = service(rsa, "npo-platform")
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=npo)).status_code in (403, 404)
    await subscribe(anyone, npo, f"CarePlan?subject=Patient/{world['anna']}")
    await revise(anyone, user_token(rsa, world, "doctor", "hospital"), world["anna-plan"], "Ändrad inom kliniken")
    assert await owed(secure_app) == [], "the blocked plan is owed to the service's endpoint"


async def test_a_block_written_with_the_change_holds_back_its_notification(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI
) -> None:
    """The owner is judged inside the write, on what the transaction wrote so far."""
    await subscribe(anyone, service(rsa, "npo-platform"), f"CarePlan?subject=Patient/{world['anna']}")
    doctor = user_token(rsa, world, "doctor", "hospital")
    plan = (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=doctor)).json()
    block = builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": block, "request": {"method": "POST", "url": "Consent"}},
            {
                "resource": dict(plan, description="Ändrad med spärren"),
                "request": {"method": "PUT", "url": f"CarePlan/{plan['id']}"},
            },
        ],
    }
    response = await anyone.post("/fhir", json=bundle, headers=doctor)
    assert response.status_code == 200, response.text
    assert await owed(secure_app) == []


async def test_a_deleted_subscriptions_owed_notifications_go_to_nobody_who_takes_its_id(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI
) -> None:
    feed = await subscribe(anyone, service(rsa), f"CarePlan?subject=Patient/{world['anna']}")
    await revise(anyone, service(rsa), world["anna-plan"], "Ändrad")
    assert await owed(secure_app) == [(feed, f"CarePlan/{world['anna-plan']}")]
    assert (await anyone.delete(f"/fhir/Subscription/{feed}", headers=service(rsa))).status_code in (200, 204)
    assert await owed(secure_app) == []
    body = dict(builders.subscription("Communication?recipient=Practitioner/karin", "https://attacker.example.org"))
    taken = await anyone.put(f"/fhir/Subscription/{feed}", json=dict(body, id=feed), headers=service(rsa, "other"))
    outcome(taken, 405)  # a deleted resource's id stays with whose it was: no PUT creates a Subscription
    assert await owed(secure_app) == []
    old = await anyone.get(f"/fhir/Subscription/{feed}/_history/1", headers=service(rsa, "other"))
    assert old.status_code == 404  # the earlier owner's version (and its channel) stays theirs


async def test_a_subscription_without_a_recorded_owner_is_sent_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI
) -> None:
    """Written before owners were recorded (here: without the server's activation step)."""
    legacy = dict(builders.subscription(f"CarePlan?subject=Patient/{world['anna']}"), status="active")
    validated = validate_resource(legacy, "Subscription", url_id=None, local_base=None)
    await FhirRepository(database(secure_app)).write(SYSTEM, None, lambda unit: unit.create(validated))
    assert match_ids((await anyone.get("/fhir/Subscription", headers=service(rsa))).json()) == []
    await revise(anyone, service(rsa), world["anna-plan"], "Ändrad")
    assert await owed(secure_app) == []


# -- development mode ----------------------------------------------------------------------------


async def test_in_development_mode_no_owner_is_recorded_and_everything_is_sent(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    body = builders.subscription("Patient?gender=male")
    body["meta"] = {"tag": [{"system": OWNER_SYSTEM, "code": "region-integration"}]}
    stored = await client.post("/fhir/Subscription", json=body)
    assert stored.status_code == 201 and "tag" not in stored.json()["meta"]
    assert (await client.post("/fhir/Patient", json=builders.patient())).status_code == 201
    assert len(await owed(app)) == 1

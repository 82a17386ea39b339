"""Twenty-first review: no interaction on Subscription tells another client whether a
Subscription id exists (docs/security.md, *Subscriptions*), in production mode on both
databases.

Another service's Subscription, one of theirs that was deleted, and an id that never existed
are answered alike, status and OperationOutcome, by every interaction a caller can name by id:
read, vread, history, update and conditional update (PUT: no client-defined ids, R4
http.html#update, 405), patch (404, R4 http.html#patch), delete (nothing to delete, R4
http.html#delete), ``$status`` and ``$events``, alone and as batch entries; and the owner's
Subscription is left as it was."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.security.callers import ADMIN, unit_system
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, user_token
from tests.support import builders

JSON_PATCH = {"Content-Type": "application/json-patch+json"}
NEVER = "aldrig-funnen-0001"


def service(key: SigningKey, client_id: str) -> dict[str, str]:
    return bearer(mint(key, scope=ADMIN, client_id=client_id))


def seen(answer: httpx.Response) -> tuple[int, str | None, list[str]]:
    """What a client tells apart: the status, and the kind of resource and issue codes answered."""
    body: dict[str, Any] = answer.json() if answer.content else {}
    codes = [issue["code"] for issue in body.get("issue", [])]
    return answer.status_code, body.get("resourceType"), codes


async def subscribe(anyone: httpx.AsyncClient, headers: dict[str, str], world: World) -> dict[str, Any]:
    body = builders.subscription(f"CarePlan?subject=Patient/{world['anna']}", payload="application/fhir+json")
    created = await anyone.post("/fhir/Subscription", json=body, headers=headers)
    assert created.status_code == 201, created.text
    stored: dict[str, Any] = created.json()
    return stored


async def interactions(anyone: httpx.AsyncClient, caller: dict[str, str], subscription_id: str, body: Any) -> dict:
    """Every answer a caller gets naming ``Subscription/[id]``."""
    url = f"/fhir/Subscription/{subscription_id}"
    patch = [{"op": "replace", "path": "/reason", "value": "Kapad"}]
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"Subscription/{subscription_id}"}},
            {"resource": dict(body, id=subscription_id), "request": {"method": "PUT", "url": url[6:]}},
            {"request": {"method": "DELETE", "url": url[6:]}},
        ],
    }
    answers = {
        "read": await anyone.get(url, headers=caller),
        "vread": await anyone.get(f"{url}/_history/1", headers=caller),
        "history": await anyone.get(f"{url}/_history", headers=caller),
        "$status": await anyone.get(f"{url}/$status", headers=caller),
        "$events": await anyone.get(f"{url}/$events", headers=caller),
        "update": await anyone.put(url, json=dict(body, id=subscription_id), headers=caller),
        "conditional update": await anyone.put(
            "/fhir/Subscription", params={"status": "off"}, json=dict(body, id=subscription_id), headers=caller
        ),
        "patch": await anyone.patch(url, json=patch, headers={**caller, **JSON_PATCH}),
        "delete": await anyone.delete(url, headers=caller),
    }
    seen_by_interaction: dict[str, Any] = {name: seen(answer) for name, answer in answers.items()}
    bundle = await anyone.post("/fhir", json=batch, headers=caller)
    assert bundle.status_code == 200, bundle.text
    seen_by_interaction["batch"] = [entry["response"]["status"] for entry in bundle.json()["entry"]]
    return seen_by_interaction


@pytest.mark.parametrize("caller", ["another service", "a unit's system", "a user"])
async def test_another_clients_subscription_is_answered_as_one_that_does_not_exist(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, caller: str
) -> None:
    owner = service(rsa, "region-integration")
    theirs = await subscribe(anyone, owner, world)
    gone = await subscribe(anyone, owner, world)
    assert (await anyone.delete(f"/fhir/Subscription/{gone['id']}", headers=owner)).status_code == 204
    headers = {
        "another service": service(rsa, "npo-platform"),
        "a unit's system": unit_system(rsa, world, "hospital"),
        "a user": user_token(rsa, world, "doctor", "hospital"),
    }[caller]
    body = {key: value for key, value in theirs.items() if key not in ("id", "meta")}
    never = await interactions(anyone, headers, NEVER, body)
    assert never["read"][0] == 404 and never["batch"][0].startswith("404")
    for subscription_id in (theirs["id"], gone["id"]):
        assert await interactions(anyone, headers, subscription_id, body) == never, subscription_id
    kept = await anyone.get(f"/fhir/Subscription/{theirs['id']}", headers=owner)
    assert kept.status_code == 200 and kept.json()["meta"]["versionId"] == "1"
    assert kept.json()["channel"] == theirs["channel"] and kept.json().get("reason") == theirs.get("reason")


async def test_the_owner_still_changes_its_own_but_creates_none_by_put(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    owner = service(rsa, "region-integration")
    mine = await subscribe(anyone, owner, world)
    url = f"/fhir/Subscription/{mine['id']}"
    changed = await anyone.put(url, json=dict(mine, reason="Ny anledning"), headers=owner)
    assert changed.status_code == 200, changed.text
    patched = await anyone.patch(
        url, json=[{"op": "replace", "path": "/reason", "value": "Åter"}], headers={**owner, **JSON_PATCH}
    )
    assert patched.status_code == 200, patched.text
    body = {key: value for key, value in mine.items() if key not in ("meta",)}
    created = await anyone.put(f"/fhir/Subscription/{NEVER}", json=dict(body, id=NEVER), headers=owner)
    assert seen(created) == (405, "OperationOutcome", ["not-supported"])
    assert (await anyone.delete(url, headers=owner)).status_code == 204
    again = await anyone.put(url, json=body, headers=owner)
    assert seen(again) == (405, "OperationOutcome", ["not-supported"])
    statement = (await anyone.get("/fhir/metadata")).json()
    [subscription] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    assert subscription["updateCreate"] is False

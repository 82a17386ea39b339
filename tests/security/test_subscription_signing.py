"""A Subscription's signing secret in production mode (docs/security.md, *Signed notifications*):
given once, shown to nobody (its owner included: a read, a history, a search, the stored versions
and the access log hold only its key id), and never lent to another client's Subscription."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from fhirbridge.notifications.signing import KEY_URL, SECRET_URL
from tests.security.test_subscription_access import database, service
from tests.security.tokens import SigningKey
from tests.support import builders
from tests.support.api import outcome

SECRET = "region-integration-hemlighet-0123456789"


def signed() -> dict[str, object]:
    body = builders.subscription("Communication?recipient=Practitioner/karin")
    body["channel"]["extension"] = [{"url": SECRET_URL, "valueString": SECRET}]  # type: ignore[index]
    return body


async def test_the_owner_never_reads_the_secret_back(
    anyone: httpx.AsyncClient, rsa: SigningKey, secure_app: FastAPI
) -> None:
    owner = service(rsa)
    created = await anyone.post("/fhir/Subscription", json=signed(), headers=owner)
    assert created.status_code == 201, created.text
    subscription_id = created.json()["id"]
    answers = [
        created,
        await anyone.get(f"/fhir/Subscription/{subscription_id}", headers=owner),
        await anyone.get(f"/fhir/Subscription/{subscription_id}/_history", headers=owner),
        await anyone.get("/fhir/Subscription", headers=owner),
    ]
    assert all(answer.status_code == 200 or answer is created for answer in answers)
    assert all(SECRET not in answer.text for answer in answers)
    assert [e["url"] for e in created.json()["channel"]["extension"]] == [KEY_URL]
    await secure_app.state.context.audit.flush()
    async with database(secure_app).reader() as conn:
        stored = [bytes(row[0]) for row in await conn.fetch("SELECT content FROM resource_versions")]
    assert stored and all(SECRET.encode() not in content for content in stored)


async def test_another_client_cannot_have_its_notifications_signed_with_the_owners_secret(
    anyone: httpx.AsyncClient, rsa: SigningKey
) -> None:
    created = await anyone.post("/fhir/Subscription", json=signed(), headers=service(rsa))
    key = created.json()["channel"]["extension"]
    other = service(rsa, "npo-platform")
    borrowing = builders.subscription("Communication?recipient=Practitioner/karin")
    borrowing["channel"]["extension"] = key
    refused = outcome(await anyone.post("/fhir/Subscription", json=borrowing, headers=other), 422)
    assert refused["issue"][0]["expression"] == ["Subscription.channel.extension"]
    assert (await anyone.get("/fhir/Subscription", headers=other)).json().get("entry", []) == []

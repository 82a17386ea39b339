"""Rate limiting per client: a token bucket each, 429 with Retry-After past it (RFC 6585 §4)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Scope

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from fhirbridge.rest.rate_limit import RateLimit, RateLimiter, client_key
from tests.support.api import BASE, outcome


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    assert limiter.check("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.check("a") is None
    assert limiter.check("a") == pytest.approx(0.5)


def test_a_bucket_refills_to_its_burst_and_no_further() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 2, clock=clock)
    limiter.check("a")
    clock.now += 3600
    assert [limiter.check("a") for _ in range(3)] == [None, None, pytest.approx(0.1)]


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(1, 1, clock=FakeClock())
    assert limiter.check("a") is None
    assert limiter.check("a") is not None
    assert limiter.check("b") is None


def test_buckets_that_filled_up_again_are_forgotten() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 5, clock=clock)
    for key in ("a", "b", "c"):
        limiter.check(key)
    clock.now += 5  # long enough for every bucket to be full again
    limiter.check("d")
    assert len(limiter) == 1


def test_memory_is_bounded_by_max_clients() -> None:
    limiter = RateLimiter(1, 5, max_clients=100, clock=FakeClock())
    for number in range(1000):
        limiter.check(f"10.0.{number // 256}.{number % 256}")
    assert len(limiter) == 100


def test_the_key_function_is_replaceable() -> None:
    scope: Scope = {"type": "http", "client": ("192.0.2.7", 5000), "headers": []}
    assert client_key(scope) == "192.0.2.7"
    assert client_key({"type": "http"}) == "unknown"
    middleware = RateLimit(FastAPI(), RateLimiter(1, 1), key=lambda scope: "tenant-1")
    assert middleware.key(scope) == "tenant-1"


@asynccontextmanager
async def throttled_app(database_url: str, per_second: float, burst: int) -> AsyncIterator[FastAPI]:
    settings = Settings(
        database_url=database_url,
        auto_migrate=False,
        outbox_worker="off",
        rate_limit_per_second=per_second,
        rate_limit_burst=burst,
        auth="off",
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def from_address(app: FastAPI, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url=BASE)


async def test_past_the_burst_a_client_gets_429_with_retry_after(database_url: str) -> None:
    async with throttled_app(database_url, 0.5, 3) as app, from_address(app, "192.0.2.1") as client:
        answers = [await client.get("/fhir/Patient") for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        refused = await client.get("/fhir/Patient")
        body = outcome(refused, 429)
        assert body["issue"][0]["code"] == "throttled"
        assert refused.headers["Retry-After"] == "2"
        assert refused.headers["X-Content-Type-Options"] == "nosniff"
        assert outcome(await client.post("/fhir/Patient", json={"resourceType": "Patient"}), 429)


async def test_other_clients_and_the_health_checks_are_not_limited(database_url: str) -> None:
    async with (
        throttled_app(database_url, 0.5, 2) as app,
        from_address(app, "192.0.2.1") as greedy,
        from_address(app, "192.0.2.2") as other,
    ):
        for _ in range(3):
            await greedy.get("/fhir/metadata")
        assert (await greedy.get("/fhir/metadata")).status_code == 429
        assert (await other.get("/fhir/metadata")).status_code == 200
        for path in ("/healthz", "/readyz", "/healthz/"):
            assert (await greedy.get(path)).status_code == 200, path


async def test_a_rate_of_zero_turns_the_limit_off(database_url: str) -> None:
    async with throttled_app(database_url, 0, 1) as app, from_address(app, "192.0.2.1") as client:
        statuses = {(await client.get("/fhir/metadata")).status_code for _ in range(20)}
        assert statuses == {200}


async def test_two_clients_behind_one_address_have_a_bucket_each(database_url: str) -> None:
    """The key is the token's client (unverified, so paired with the address): one greedy
    integration behind a shared proxy address does not throttle another."""
    unsigned = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}: the limiter reads claims, it does not trust them
    tokens = {
        name: f"{unsigned}.{base64.urlsafe_b64encode(json.dumps({'client_id': name}).encode()).decode().rstrip('=')}."
        for name in ("cosmic", "millennium")
    }
    async with throttled_app(database_url, 0.5, 2) as app, from_address(app, "192.0.2.9") as client:
        greedy = {"Authorization": f"Bearer {tokens['cosmic']}"}
        for _ in range(2):
            await client.get("/fhir/metadata", headers=greedy)
        assert (await client.get("/fhir/metadata", headers=greedy)).status_code == 429
        other = {"Authorization": f"Bearer {tokens['millennium']}"}
        assert (await client.get("/fhir/metadata", headers=other)).status_code == 200
        assert (await client.get("/fhir/metadata", headers={"Authorization": "Bearer x.y"})).status_code == 200

"""Rate limiting: a token bucket per verified client (per address without a valid token), 429
with Retry-After past it (RFC 6585 §4)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Scope

from fhirbridge.config import Settings, TrustedIssuer
from fhirbridge.rest.app import create_app
from fhirbridge.rest.rate_limit import Limit, RateLimiter, client_address
from tests.security.tokens import AUDIENCE, ISSUER, SigningKey, bearer, mint, rsa_key, write_jwks
from tests.support.api import BASE, outcome

SMART = "/fhir/.well-known/smart-configuration"
"""A cheap public document: what these tests ask for when only the limit matters."""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limit = Limit(2, 3)
    assert [limiter.check("a", limit) for _ in range(3)] == [None, None, None]
    assert limiter.check("a", limit) == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.check("a", limit) is None
    assert limiter.check("a", limit) == pytest.approx(0.5)


def test_a_bucket_refills_to_its_burst_and_no_further() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limit = Limit(10, 2)
    limiter.check("a", limit)
    clock.now += 3600
    assert [limiter.check("a", limit) for _ in range(3)] == [None, None, pytest.approx(0.1)]


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(clock=FakeClock())
    limit = Limit(1, 1)
    assert limiter.check("a", limit) is None
    assert limiter.check("a", limit) is not None
    assert limiter.check("b", limit) is None


def test_buckets_that_filled_up_again_are_forgotten() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    for key in ("a", "b", "c"):
        limiter.check(key, Limit(1, 5))
    clock.now += 5  # long enough for every bucket to be full again
    limiter.check("d", Limit(1, 5))
    assert len(limiter) == 1


def test_memory_is_bounded_by_max_clients() -> None:
    limiter = RateLimiter(max_clients=100, clock=FakeClock())
    for number in range(1000):
        limiter.check(f"10.0.{number // 256}.{number % 256}", Limit(1, 5))
    assert len(limiter) == 100


def test_the_address_is_the_connection_s() -> None:
    assert client_address({"type": "http", "client": ("192.0.2.7", 5000), "headers": []}) == "192.0.2.7"
    scope: Scope = {"type": "http"}
    assert client_address(scope) == "unknown"


@asynccontextmanager
async def throttled_app(database_url: str, **limits: Any) -> AsyncIterator[FastAPI]:
    settings = Settings(database_url=database_url, auto_migrate=False, outbox_worker="off", auth="off", **limits)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def from_address(app: FastAPI, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url=BASE)


async def test_past_the_burst_a_client_gets_429_with_retry_after(database_url: str) -> None:
    async with (
        throttled_app(database_url, rate_limit_per_second=0.5, rate_limit_burst=3) as app,
        from_address(app, "192.0.2.1") as client,
    ):
        answers = [await client.get("/fhir/Patient") for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        refused = await client.get("/fhir/Patient")
        body = outcome(refused, 429)
        assert body["issue"][0]["code"] == "throttled"
        assert refused.headers["Retry-After"] == "2"
        assert refused.headers["X-Content-Type-Options"] == "nosniff"
        assert outcome(await client.post("/fhir/Patient", json={"resourceType": "Patient"}), 429)


async def test_other_addresses_and_the_health_checks_are_not_limited_in_development_mode(database_url: str) -> None:
    async with (
        throttled_app(database_url, rate_limit_per_second=0.5, rate_limit_burst=2) as app,
        from_address(app, "192.0.2.1") as greedy,
        from_address(app, "192.0.2.2") as other,
    ):
        for _ in range(2):
            await greedy.get("/fhir/metadata")
        assert (await greedy.get("/fhir/metadata")).status_code == 429
        assert (await other.get("/fhir/metadata")).status_code == 200
        for path in ("/healthz", "/readyz", "/healthz/"):
            assert (await greedy.get(path)).status_code == 200, path


async def test_a_rate_of_zero_turns_the_limit_off(database_url: str) -> None:
    async with (
        throttled_app(database_url, rate_limit_per_second=0, rate_limit_anonymous_per_second=0.1) as app,
        from_address(app, "192.0.2.1") as client,
    ):
        statuses = {(await client.get(SMART)).status_code for _ in range(20)}
        assert statuses == {200}


async def test_development_mode_says_what_the_limit_does(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fhirbridge"):
        async with throttled_app(database_url, rate_limit_per_second=300, rate_limit_burst=600):
            pass
    assert (
        "rate limits in development mode: no token is read, each address is one client: "
        "300 requests/s in bursts of up to 600" in caplog.messages
    )


# With authentication on: the verified client is the bucket.


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return rsa_key()


@pytest.fixture
def secure_limits(database_url: str, tmp_path: Path, key: SigningKey) -> dict[str, Any]:
    jwks = write_jwks(tmp_path / "jwks.json", key)
    return {
        "database_url": database_url,
        "auth": "jwt",
        "auth_issuers": [TrustedIssuer(issuer=ISSUER, jwks=str(jwks))],
        "auth_audience": [AUDIENCE],
        "audit_flush_seconds": 3600,
    }


@asynccontextmanager
async def secure_app(secure_limits: dict[str, Any], **limits: Any) -> AsyncIterator[FastAPI]:
    settings = Settings(auto_migrate=False, outbox_worker="off", **secure_limits, **limits)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def token_of(key: SigningKey, client: str) -> dict[str, str]:
    return bearer(mint(key, scope="system/*.rs", client_id=client))


def forged(client: str) -> dict[str, str]:
    """A token naming ``client`` that nobody signed (``alg: none``)."""
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": client, "client_id": client, "exp": 4102444800}
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return {"Authorization": f"Bearer eyJhbGciOiJub25lIn0.{encoded}."}


async def test_two_clients_behind_one_address_have_a_bucket_each(
    secure_limits: dict[str, Any], key: SigningKey
) -> None:
    """A regional integration engine and a journal system behind one proxy address: one using
    up its bucket does not throttle the other."""
    async with (
        secure_app(secure_limits, rate_limit_per_second=0.5, rate_limit_burst=2) as app,
        from_address(app, "192.0.2.9") as proxy,
    ):
        engine, journal = token_of(key, "region-integration"), token_of(key, "cosmic")
        assert [(await proxy.get("/fhir/Patient", headers=engine)).status_code for _ in range(3)] == [200, 200, 429]
        assert (await proxy.get("/fhir/Patient", headers=journal)).status_code == 200
        assert (await proxy.get("/fhir/Patient", headers=engine)).status_code == 429


async def test_forged_tokens_count_against_their_address_never_against_the_client_they_name(
    secure_limits: dict[str, Any], key: SigningKey
) -> None:
    async with (
        secure_app(
            secure_limits,
            rate_limit_per_second=0.5,
            rate_limit_burst=2,
            rate_limit_anonymous_per_second=0.5,
            rate_limit_anonymous_burst=3,
        ) as app,
        from_address(app, "198.51.100.66") as attacker,
        from_address(app, "192.0.2.9") as engine,
    ):
        invented = [(await attacker.get("/fhir/Patient", headers=forged(f"client-{n}"))).status_code for n in range(4)]
        assert invented == [401, 401, 401, 429]  # invented client ids share the address's bucket
        assert (await attacker.get("/fhir/Patient")).status_code == 429  # and so do requests without a token
        for _ in range(5):
            await engine.get("/fhir/Patient", headers=forged("region-integration"))
        assert (await engine.get("/fhir/Patient", headers=token_of(key, "region-integration"))).status_code == 200


async def test_a_client_s_own_limit_applies_to_it_alone(
    secure_limits: dict[str, Any], key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIRBRIDGE_RATE_LIMITS", '{"cosmic": 1, "region-integration": {"per_second": 0}}')
    async with secure_app(secure_limits) as app, from_address(app, "192.0.2.9") as proxy:
        assert [(await proxy.get(SMART, headers=token_of(key, "cosmic"))).status_code for _ in range(2)] == [200, 429]
        assert (await proxy.get(SMART, headers=token_of(key, "millennium"))).status_code == 200
        statuses = {(await proxy.get(SMART, headers=token_of(key, "region-integration"))).status_code for _ in range(5)}
        assert statuses == {200}


async def test_by_default_one_client_gets_a_burst_of_a_thousand_requests_through(
    secure_limits: dict[str, Any], key: SigningKey
) -> None:
    async with secure_app(secure_limits) as app, from_address(app, "192.0.2.9") as engine:
        headers = token_of(key, "region-integration")
        answers = await asyncio.gather(*(engine.get(SMART, headers=headers) for _ in range(1000)))
        assert {answer.status_code for answer in answers} == {200}

"""Behind a reverse proxy on another host (rest/forwarded.py): the URLs the service answers with
(``Location``, Bundle links, ``fullUrl``; R4 http.html#root) carry the public scheme and host
that a trusted proxy forwards, and the caller's address is the one it names; from any other peer
the forwarded headers change nothing.  Production mode: bearer tokens, the access policy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from fhirbridge.config import ConfigurationError, Settings, TrustedIssuer, get_settings
from fhirbridge.rest.app import create_app
from tests.conftest import BASE
from tests.security.tokens import AUDIENCE, ISSUER, bearer, mint, rsa_key, write_jwks
from tests.support import builders

PROXY = "10.20.0.5"
"""The proxy's address, in the trusted network."""
OUTSIDER = "203.0.113.7"
"""A client that reaches the service directly, not through the proxy."""
PUBLIC = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "fhir.region.se"}
KEY = rsa_key()

Peer = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def _settings(database_url: str, folder: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "auto_migrate": False,
        "outbox_worker": "off",
        "auth": "jwt",
        "auth_issuers": [TrustedIssuer(issuer=ISSUER, jwks=str(write_jwks(folder / "jwks.json", KEY)))],
        "auth_audience": [AUDIENCE],
        "rate_limit_per_second": 0,
        "audit_flush_seconds": 30,
        "trusted_proxies": ["10.20.0.0/24"],
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def peer(database_url: str, tmp_path: Path) -> Peer:
    """A client connecting from a given address to the service (with setting overrides)."""

    @asynccontextmanager
    async def connect(address: str, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(_settings(database_url, tmp_path, **overrides))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=(address, 41234))
            token = bearer(mint(KEY, sub="integration", scope="system/*.cruds", client_id="region-integration"))
            async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=token) as http:
                yield http

    return connect


async def _create_and_find(http: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, dict[str, object]]:
    created = await http.post("/fhir/Patient", json=builders.patient(), headers=headers)
    assert created.status_code == 201, created.text
    found = await http.get("/fhir/Patient", params={"_id": created.json()["id"]}, headers=headers)
    assert found.status_code == 200, found.text
    return created.headers["location"], found.json()


async def test_a_trusted_proxy_gives_the_public_base(peer: Peer) -> None:
    async with peer(PROXY) as http:
        location, bundle = await _create_and_find(http, PUBLIC)
        assert location.startswith("https://fhir.region.se/fhir/Patient/")
        [entry] = bundle["entry"]  # type: ignore[misc]
        assert entry["fullUrl"] == location.split("/_history/")[0]
        assert bundle["link"][0]["url"].startswith("https://fhir.region.se/fhir/Patient?")  # type: ignore[index]
        history = (await http.get("/fhir/Patient/_history", headers=PUBLIC)).json()
        assert history["entry"][0]["fullUrl"].startswith("https://fhir.region.se/fhir/Patient/")


async def test_a_client_elsewhere_cannot_choose_the_base(peer: Peer) -> None:
    async with peer(OUTSIDER) as http:
        location, bundle = await _create_and_find(http, PUBLIC)
        assert location.startswith(f"{BASE}/fhir/Patient/")
        assert bundle["link"][0]["url"].startswith(f"{BASE}/fhir/Patient?")  # type: ignore[index]


async def test_without_trusted_proxies_no_one_is_believed(peer: Peer) -> None:
    async with peer(PROXY, trusted_proxies=[]) as http:
        location, _ = await _create_and_find(http, PUBLIC)
        assert location.startswith(f"{BASE}/fhir/Patient/")


async def test_the_nearest_proxys_values_count_and_nonsense_is_ignored(peer: Peer) -> None:
    async with peer(PROXY) as http:
        appended = {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, fhir.region.se"}
        location, _ = await _create_and_find(http, appended)
        assert location.startswith("https://fhir.region.se/fhir/")
        for host in ("evil.example/fhir?", "a b", "evil.example@fhir"):
            location, _ = await _create_and_find(http, {"X-Forwarded-Host": host, "X-Forwarded-Proto": "gopher"})
            assert location.startswith(f"{BASE}/fhir/Patient/"), host


async def test_a_configured_base_url_wins(peer: Peer) -> None:
    async with peer(PROXY, base_url="https://fhir.example.se/fhir") as http:
        location, _ = await _create_and_find(http, PUBLIC)
        assert location.startswith("https://fhir.example.se/fhir/Patient/")


async def test_the_caller_address_comes_from_a_trusted_proxy_only(peer: Peer) -> None:
    """``/metrics`` answers loopback callers: a proxy on loopback vouches for its own callers, a
    client cannot claim loopback itself, directly or through a proxy that appends."""
    async with peer(PROXY, trusted_proxies=["10.20.0.0/24", "127.0.0.1"]) as http:
        assert (await http.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})).status_code == 200
        spoofed = {"X-Forwarded-For": f"127.0.0.1, {OUTSIDER}"}
        refused = await http.get("/metrics", headers=spoofed)
        assert refused.status_code == 403
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert (await http.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, not-an-address"})).status_code == 403
    async with peer(OUTSIDER) as http:
        assert (await http.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})).status_code == 403


def test_an_entry_that_is_no_address_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIRBRIDGE_TRUSTED_PROXIES", "10.0.0.0/24,proxy.local")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match=r"FHIRBRIDGE_TRUSTED_PROXIES: 'proxy.local' is not an IP"):
            get_settings()
    finally:
        get_settings.cache_clear()
    monkeypatch.setenv("FHIRBRIDGE_TRUSTED_PROXIES", '["10.0.0.0/24", "::1"]')
    assert Settings().trusted_proxies == ["10.0.0.0/24", "::1"]

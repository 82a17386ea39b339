"""CORS for the configured browser origins only; none at all by default."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from tests.support.api import BASE

APP_ORIGIN = "https://app.region.se"
PREFLIGHT = {
    "Access-Control-Request-Method": "PUT",
    "Access-Control-Request-Headers": "authorization, content-type, if-match, prefer",
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, auto_migrate=False, outbox_worker="off", cors_origins=[APP_ORIGIN], auth="off"
    )


@pytest.fixture
async def plain_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a service with the default settings: no CORS origins."""
    application = create_app(Settings(database_url=database_url, auto_migrate=False, outbox_worker="off", auth="off"))
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=BASE) as http,
    ):
        yield http


async def test_a_preflight_from_an_allowed_origin_is_answered(client: httpx.AsyncClient) -> None:
    response = await client.options("/fhir/Patient/1", headers={"Origin": APP_ORIGIN, **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert methods == {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "if-match", "prefer", "if-none-exist"} <= allowed
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_a_preflight_from_another_origin_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.options("/fhir/Patient/1", headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert response.status_code == 400
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_answers_to_an_allowed_origin_expose_the_fhir_headers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir/Patient", json={"resourceType": "Patient", "gender": "female"}, headers={"Origin": APP_ORIGIN}
    )
    assert response.status_code == 201, response.text
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"etag", "location", "content-location", "last-modified", "retry-after"}
    other = await client.get("/fhir/metadata", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_without_configured_origins_there_are_no_cors_headers(plain_client: httpx.AsyncClient) -> None:
    response = await plain_client.get("/fhir/metadata", headers={"Origin": APP_ORIGIN})
    assert response.status_code == 200
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]
    preflight = await plain_client.options("/fhir/Patient/1", headers={"Origin": APP_ORIGIN, **PREFLIGHT})
    assert preflight.status_code == 405
    assert not [name for name in preflight.headers if name.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    ("environment", "origins"),
    [
        ("https://a.se, https://b.se", ["https://a.se", "https://b.se"]),
        ('["https://a.se"]', ["https://a.se"]),
        ("*", ["*"]),
        ("", []),
    ],
)
def test_origins_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: str, origins: list[str]
) -> None:
    monkeypatch.setenv("FHIRBRIDGE_CORS_ORIGINS", environment)
    assert Settings().cors_origins == origins

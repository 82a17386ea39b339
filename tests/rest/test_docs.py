"""``/docs``: Swagger UI served by the service itself, for a closed regional network: the page
and every file it names come from the service, under a policy that allows nothing else, and
need no token (the document describes the API; data still needs one)."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings, TrustedIssuer
from fhirbridge.rest.app import create_app
from tests.conftest import BASE
from tests.security.tokens import AUDIENCE, ISSUER, ec_key, write_jwks


@pytest.fixture
async def production(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The service with authentication on, on a database of its own."""
    shutil.copy(sqlite_template, tmp_path / "fhirbridge.db")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'fhirbridge.db'}",
        auto_migrate=False,
        outbox_worker="off",
        auth="jwt",
        auth_issuers=[TrustedIssuer(issuer=ISSUER, jwks=str(write_jwks(tmp_path / "jwks.json", ec_key())))],
        auth_audience=[AUDIENCE],
    )
    app: FastAPI = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        yield client


async def test_the_page_and_its_files_come_from_the_service_without_a_token(production: httpx.AsyncClient) -> None:
    page = await production.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "//" not in re.sub(r"<!doctype html>", "", page.text, flags=re.IGNORECASE)  # no address elsewhere
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "connect-src 'self'" in policy
    named = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css", "/docs/start.js"} <= set(named)
    for address in named:
        answer = await production.get(address)
        assert answer.status_code == 200, address
        assert len(answer.content) > 100, address
    start = (await production.get("/docs/start.js")).text
    assert 'url: "/openapi.json"' in start
    assert "validatorUrl: null" in start  # Swagger UI would otherwise send the document to swagger.io
    document = await production.get("/openapi.json")
    assert document.status_code == 200
    assert "/fhir/CarePlan/{id}" in document.json()["paths"]


async def test_only_the_files_the_page_needs_are_served(production: httpx.AsyncClient) -> None:
    for other in ("/docs/static/index.html", "/docs/static/swagger-initializer.js", "/docs/static/../__init__.py"):
        assert (await production.get(other)).status_code == 404, other


async def test_the_documented_api_still_asks_for_a_token(production: httpx.AsyncClient) -> None:
    answer = await production.get("/fhir/CarePlan")
    assert answer.status_code == 401
    assert answer.json()["resourceType"] == "OperationOutcome"

"""Starting without the database: liveness answers at once, readiness says why it is not ready,
data requests are 503 ``transient`` until the database comes, and the service becomes ready
without a restart (production mode: tokens, the access policy, the access log)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from fhirbridge.config import Settings, TrustedIssuer
from fhirbridge.rest.app import create_app
from fhirbridge.storage.migrations import upgrade
from tests.conftest import BASE
from tests.security.callers import admin
from tests.security.tokens import AUDIENCE, ISSUER, SigningKey, rsa_key, write_jwks
from tests.support import builders
from tests.support.postgres import ThrowawayPostgres

KEY: SigningKey = rsa_key()


def production(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "auth": "jwt",
        "auth_issuers": [TrustedIssuer(issuer=ISSUER, jwks=str(write_jwks(tmp_path / "jwks.json", KEY)))],
        "auth_audience": [AUDIENCE],
        "outbox_worker": "off",
        "rate_limit_per_second": 0,
        "db_wait_seconds": 30,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def started(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    begun = time.monotonic()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        assert time.monotonic() - begun < 5, "the start waited for the database instead of serving /healthz"
        yield client


async def until_ready(client: httpx.AsyncClient, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while (await client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, (await client.get("/readyz")).text
        await asyncio.sleep(0.1)


def not_ready_because(answer: httpx.Response) -> str:
    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"
    diagnostics: str = outcome["issue"][0]["diagnostics"]
    return diagnostics


async def test_a_postgresql_not_up_at_start_is_waited_for(private_postgres: ThrowawayPostgres, tmp_path: Path) -> None:
    private_postgres.stop_server()
    app = create_app(production(tmp_path, private_postgres.url))
    async with started(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        why = not_ready_because(await client.get("/readyz"))
        assert "database is not available: connection refused" in why
        assert str(private_postgres.port) not in why  # the public answer names no address
        written = await client.put(
            "/fhir/Practitioner/karin", json=dict(builders.practitioner(), id="karin"), headers=admin(KEY)
        )
        assert "not ready" in not_ready_because(written)
        assert (await client.get("/fhir/Practitioner/karin")).status_code == 503  # before authentication too

        await asyncio.to_thread(private_postgres.start_server)
        await until_ready(client)  # migrated and started, without a restart
        written = await client.put(
            "/fhir/Practitioner/karin", json=dict(builders.practitioner(), id="karin"), headers=admin(KEY)
        )
        assert written.status_code == 201
        assert (await client.get("/fhir/Practitioner/karin")).status_code == 401  # the access rules hold
        assert (await client.get("/fhir/Practitioner/karin", headers=admin(KEY))).status_code == 200


async def test_pending_migrations_keep_the_service_not_ready_until_they_are_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(production(tmp_path, url, auto_migrate=False))
    async with started(app) as client:
        why = not_ready_because(await client.get("/readyz"))
        assert "migrations pending" in why
        assert "fhirbridge db upgrade" in why
        await asyncio.to_thread(upgrade, url)  # the operator runs `fhirbridge db upgrade`
        await until_ready(client)
        answer = await client.get("/fhir/Practitioner", headers=admin(KEY))
        assert answer.status_code == 200


async def test_the_start_gives_up_after_the_wait_and_says_why(
    private_postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    private_postgres.stop_server()
    given_up: list[str] = []
    app = create_app(production(tmp_path, private_postgres.url, db_wait_seconds=1), on_give_up=given_up.append)
    async with started(app) as client:
        deadline = time.monotonic() + 10
        while not given_up:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert "FHIRBRIDGE_DB_WAIT_SECONDS" in given_up[0]
        assert f"127.0.0.1:{private_postgres.port}" in given_up[0]  # the log names the database
        assert "gave up" in not_ready_because(await client.get("/readyz"))
        assert (await client.get("/healthz")).status_code == 200

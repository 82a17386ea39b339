"""Fixtures: every API test runs against a real SQLite file and a real PostgreSQL server.

PostgreSQL comes from ``FHIRBRIDGE_TEST_POSTGRES_URL`` or, when the server binaries are on
the machine, a throwaway cluster started for the session.  With
``FHIRBRIDGE_REQUIRE_POSTGRES=1`` (as in CI) a missing PostgreSQL fails the run instead of
skipping its half of the tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from fhirbridge.storage.migrations import upgrade
from fhirbridge.storage.schema import metadata
from tests.support.postgres import ThrowawayPostgres, find_binaries
from tests.support.written_logs import WrittenLogs

pytest_plugins = ["tests.support.production"]
"""Production mode's fixtures (a deployment with tokens, a client, the world), for every folder."""

BACKENDS = ("sqlite", "postgresql")
BASE = "http://fhirbridge.test"
REQUIRE_POSTGRES = os.environ.get("FHIRBRIDGE_REQUIRE_POSTGRES") == "1"


WRITTEN_LOGS = WrittenLogs()
"""Every log line of the run, as the service writes it, scanned for identifiers in clear."""


def pytest_configure(config: pytest.Config) -> None:
    """Every record any logger handles is scanned, whatever handlers a test configures."""
    handle = logging.Logger.handle

    def scanned(logger: logging.Logger, record: logging.LogRecord) -> None:
        WRITTEN_LOGS.handle(record)
        handle(logger, record)

    logging.Logger.handle = scanned  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run fails when any log line named someone in clear (issue 17)."""
    if WRITTEN_LOGS.offending:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", f"{len(WRITTEN_LOGS.offending)} log lines name someone in clear", red=True)
            for line in WRITTEN_LOGS.offending[:20]:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``postgres_only`` tests keep only their PostgreSQL variant."""
    kept = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        if item.get_closest_marker("postgres_only") and backend == "sqlite":
            continue
        kept.append(item)
    items[:] = kept


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("FHIRBRIDGE_TEST_POSTGRES_URL")
    if url:
        upgrade(url)
        yield url
        return
    if find_binaries() is None:
        message = "PostgreSQL server binaries are not installed (apt-get install postgresql)"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " and FHIRBRIDGE_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(message)
    with ThrowawayPostgres() as server:
        upgrade(server.url)
        yield server.url


@pytest.fixture
def private_postgres() -> Iterator[ThrowawayPostgres]:
    """For the tests that stop and start PostgreSQL: a durable cluster of the test's own (a
    commit is acknowledged once it is on disk), so that stopping it never disturbs the suite's
    shared server."""
    if find_binaries() is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL server binaries are not installed", pytrace=False)
        pytest.skip("PostgreSQL server binaries are not installed")
    server = ThrowawayPostgres(durable=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


async def _truncate(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        tables = ", ".join(table.name for table in metadata.sorted_tables)
        await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "fhirbridge.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Tests deliver notifications themselves (tests/notifications), or start the worker on purpose;
    # they are not throttled, except in tests/rest/test_rate_limit.py; the audit log is written when
    # AuditEvents are searched and at shutdown, so that it never moves a history a test compares.
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        outbox_worker="off",
        rate_limit_per_second=0,
        auth="off",
        audit_flush_seconds=3600,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http

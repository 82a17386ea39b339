"""Fixtures of the storage tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from fhirbridge.storage.urls import parse_database_url


@pytest.fixture(params=("sqlite", "postgresql"))
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"migration_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(server)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    try:
        asyncio.run(admin(f"CREATE DATABASE {name}"))
    except asyncpg.InsufficientPrivilegeError:
        pytest.skip("the test server does not let us create a database")
    dsn = parse_database_url(server).postgres_dsn
    assert dsn is not None
    yield dsn.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(admin(f"DROP DATABASE {name} WITH (FORCE)"))

"""The Alembic migrations create exactly the schema that storage/schema.py describes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine

from fhirbridge.storage.migrations import upgrade
from fhirbridge.storage.schema import metadata
from fhirbridge.storage.urls import parse_database_url


def _differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


def test_sqlite_migrations_match_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    upgrade(url)  # a second run is a no-op
    engine = create_engine(url)
    with engine.connect() as connection:
        assert _differences(connection) == []
    engine.dispose()


def test_postgres_migrations_match_the_schema(postgres_url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    async def check() -> list[object]:
        engine = create_async_engine(parse_database_url(postgres_url).sqlalchemy_url)
        async with engine.connect() as connection:
            found = await connection.run_sync(_differences)
        await engine.dispose()
        return found

    upgrade(postgres_url)
    assert asyncio.run(check()) == []


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://relative.db", "sqlite:///:memory:"])
def test_unsupported_database_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_database_url(url)


def test_postgres_url_forms() -> None:
    target = parse_database_url("postgres://u:secret@db:5432/fhir")
    assert target.kind == "postgresql"
    assert target.postgres_dsn == "postgresql://u:secret@db:5432/fhir"
    assert "secret" not in target.describe()

"""Alembic environment: migrates the database named by FHIRBRIDGE_DATABASE_URL.

PostgreSQL migrations run through asyncpg under an advisory lock, so that several app
instances starting at once migrate exactly once; SQLite migrations run through the standard
library driver.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text

from fhirbridge.config import get_settings
from fhirbridge.storage.schema import metadata
from fhirbridge.storage.urls import parse_database_url

MIGRATION_LOCK_KEY = 7_346_201_998_431  # any fixed bigint; names "fhirbridge migrations"

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target = parse_database_url(config.attributes.get("database_url") or get_settings().database_url)


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=target.kind == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def run_postgres() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(target.sqlalchemy_url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await connection.commit()
        try:
            await connection.run_sync(run_migrations)
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await connection.commit()
    await engine.dispose()


def run_sqlite() -> None:
    assert target.sqlite_path is not None
    target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(target.sqlalchemy_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=target.sqlalchemy_url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif target.kind == "postgresql":
    asyncio.run(run_postgres())
else:
    run_sqlite()

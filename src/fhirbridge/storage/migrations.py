"""Running the Alembic migrations from code (``fhirbridge db upgrade`` and start-up)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

import fhirbridge
from fhirbridge.storage.database import Database


class MigrationRefused(Exception):
    """A migration that will not run on this data; its message says why and what to do."""


def alembic_directory() -> Path:
    """The migrations: packaged inside the wheel, or the repository's ``alembic/`` folder."""
    packaged = Path(fhirbridge.__file__).parent / "_alembic"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "alembic"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(alembic_directory()))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several instances at once."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)


def newest_revisions() -> set[str]:
    """The revisions the code expects the schema to be at (Alembic's heads)."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("")).get_heads())


async def schema_behind(database: Database) -> str | None:
    """Why ``database``'s schema is not the one this version needs (``migrations pending …``),
    or None when it is; read through the engine, without Alembic's own connection."""
    if database.dialect.name == "postgresql":
        exists_sql = (
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name = 'alembic_version' AND table_schema = current_schema()"
        )
    else:
        exists_sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    found: set[str] = set()
    async with database.reader() as conn:
        if await conn.fetchval(exists_sql):
            found = {str(row[0]) for row in await conn.fetch("SELECT version_num FROM alembic_version")}
    newest = newest_revisions()
    if found == newest:
        return None
    at = ", ".join(sorted(found)) or "empty"
    return f"migrations pending: the schema is at {at}, this version needs {', '.join(sorted(newest))}"

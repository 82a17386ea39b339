"""Running the Alembic migrations from code (``fhirbridge db upgrade`` and start-up)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

import fhirbridge


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

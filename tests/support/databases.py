"""A database opened for a test and closed after it, whatever happens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fhirbridge.storage.database import Database
from fhirbridge.storage.engines import open_database


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Database]:
    database = await open_database(url, pool_size=2)
    try:
        yield database
    finally:
        await database.close()

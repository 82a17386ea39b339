"""Waiting for the database at start, with growing pauses (``FHIRBRIDGE_DB_WAIT_SECONDS``).

A service started beside its database (a compose file, a Kubernetes pod, a machine booting)
often comes up first.  Instead of dying at the first refused connection, which an orchestrator
answers by starting it again and again, the service and every command try again after 0.5 s,
1 s, 2 s … at most 10 s apart, until the database answers or the wait is over.  Only transient
faults (:func:`~fhirbridge.storage.faults.fault_reason`: refused, shutting down, locked …) and a
schema that another instance has still to migrate are waited out; anything else is raised at
once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fhirbridge.config import Settings
from fhirbridge.errors import DatabaseUnavailable
from fhirbridge.storage.data_folder import check_data_folder
from fhirbridge.storage.database import Database
from fhirbridge.storage.engines import open_database
from fhirbridge.storage.faults import fault_reason
from fhirbridge.storage.migrations import schema_behind, upgrade_async
from fhirbridge.storage.urls import parse_database_url

T = TypeVar("T")
FIRST_PAUSE_SECONDS = 0.5
LONGEST_PAUSE_SECONDS = 10.0


class NotReady(Exception):
    """A database that answers but cannot be used yet (its migrations are pending)."""


class DatabaseUnreachable(Exception):
    """The database did not become usable within the wait; the message names it and says why,
    ``reason`` says why without naming it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


async def when_reachable(
    attempt: Callable[[], Awaitable[T]],
    *,
    seconds: float,
    name: str,
    waiting: Callable[[str], None] | None = None,
) -> T:
    """``attempt()``, tried again while it fails on a transient fault or :class:`NotReady`, for
    at most ``seconds``; ``waiting(reason)`` is told of each failure before the pause."""
    deadline = time.monotonic() + seconds
    pause = FIRST_PAUSE_SECONDS
    while True:
        try:
            return await attempt()
        except NotReady as not_ready:
            reason = str(not_ready)
        except DatabaseUnavailable as unavailable:
            reason = f"not available: {unavailable.reason}"
        except Exception as exc:
            found = fault_reason(exc)
            if found is None:
                raise
            reason = f"not available: {found}"
        if time.monotonic() + pause > deadline:
            waited = f"after waiting {seconds:g} s (FHIRBRIDGE_DB_WAIT_SECONDS)" if seconds else "at once"
            raise DatabaseUnreachable(f"the database {name} is {reason}; gave up {waited}", reason) from None
        if waiting is not None:
            waiting(reason)
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)


async def open_checked(settings: Settings, *, pool_size: int, migrate: bool, current: bool = False) -> Database:
    """One attempt: migrate (when ``migrate``), open the database, see it answer, and (when
    ``current``) that its schema is the one this version needs; closed again if any step fails."""
    check_data_folder(settings.database_url)
    if migrate:
        await upgrade_async(settings.database_url)
    database = await open_database(
        settings.database_url,
        pool_size=pool_size,
        read_threads=settings.sqlite_read_threads,
        statement_timeout_ms=settings.statement_timeout_ms,
    )
    try:
        async with database.reader() as conn:
            await conn.fetchval("SELECT 1")
        if current and (behind := await schema_behind(database)) is not None:
            raise NotReady(f"{behind}: run `fhirbridge db upgrade`")
    except BaseException:
        await database.close()
        raise
    return database


async def open_when_reachable(
    settings: Settings, *, pool_size: int = 4, migrate: bool = False, waiting: Callable[[str], None] | None = None
) -> Database:
    """The database of ``settings``, migrated first when ``migrate`` (and ``FHIRBRIDGE_AUTO_MIGRATE``),
    waited for as :func:`when_reachable` says: what the commands open."""
    migrate = migrate and settings.auto_migrate
    return await when_reachable(
        lambda: open_checked(settings, pool_size=pool_size, migrate=migrate),
        seconds=settings.db_wait_seconds,
        name=parse_database_url(settings.database_url).describe(),
        waiting=waiting,
    )

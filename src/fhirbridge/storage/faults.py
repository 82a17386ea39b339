"""Database faults: telling an outage from a bug, and logging each outage once.

A database that cannot be reached, is shutting down, lost the connection, is locked beyond the
busy timeout, cannot do I/O or is read-only is a **transient** fault: the request may succeed
when retried, so it is answered 503 with ``Retry-After`` (:class:`~fhirbridge.errors.
DatabaseUnavailable`, R4 http.html and the IssueType ``transient``).  Anything else a driver
raises (a syntax error, a broken constraint) is a bug and stays a 500 with its traceback.

:class:`FaultWatch` writes one line when a fault begins and one when the database answers
again, instead of a traceback for every request refused in between.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from fhirbridge.errors import DatabaseUnavailable, FhirError

log = logging.getLogger(__name__)

QUIET_SECONDS = 1.0
"""A fault is over once an operation succeeds this long after the last one failed: the stale
connections a restarted server leaves in the pool fail one by one, and are one fault."""

_SQLITE_FAULTS = {
    sqlite3.SQLITE_BUSY: "the database file is locked by another writer",
    sqlite3.SQLITE_LOCKED: "the database file is locked by another writer",
    sqlite3.SQLITE_NOMEM: "SQLite is out of memory",
    sqlite3.SQLITE_READONLY: "the database file is read-only",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
    sqlite3.SQLITE_PROTOCOL: "the database file's lock protocol failed",
}

_POSTGRES_STATES = {
    "57P01": "the server is shutting down",
    "57P02": "the server is restarting after a crash",
    "57P03": "the server is starting up or shutting down",
    "53300": "the server has too many connections",
    "25006": "the server is read-only (a standby)",
}
_POSTGRES_CLASSES = {
    "08": "the connection to the server was lost",
    "53": "the server is out of resources (disk or memory)",
}
"""PostgreSQL's SQLSTATEs of transient faults (Appendix A of its manual): by code, else by class."""

_NETWORK_FAULTS: tuple[tuple[type[OSError], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (ConnectionError, "the connection to the server was lost"),
    (TimeoutError, "the server did not answer in time"),
)


def _own_fault(exc: BaseException) -> str | None:
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return None if code is None else _SQLITE_FAULTS.get(code & 0xFF)
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return _POSTGRES_STATES.get(state) or _POSTGRES_CLASSES.get(state[:2])
    if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
        return "the connection to the server was lost"
    if isinstance(exc, asyncpg.InternalClientError) and "another operation" in str(exc):
        # a pooled connection whose last operation the lost server never finished
        return "the connection to the server was lost"
    for kind, reason in _NETWORK_FAULTS:
        if isinstance(exc, kind):
            return reason
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError | PermissionError):
        return exc.strerror or type(exc).__name__  # a network error reaching the server (name resolution, …)
    return None


def fault_reason(exc: BaseException) -> str | None:
    """Why the database is unavailable, when ``exc`` (or what it wraps: SQLAlchemy's and
    Alembic's errors carry the driver's as their cause) says it is; None for anything else."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        if isinstance(current, FhirError):  # answered already (a DatabaseUnavailable too)
            return None
        reason = _own_fault(current)
        if reason is not None:
            return reason
        current = current.__cause__ or getattr(current, "orig", None)
        seen += 1
    return None


class FaultWatch:
    """One database's faults as the log tells them: a line when the first operation fails, a
    line when operations succeed again (how long it lasted, how many failed); nothing between."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.since: float | None = None
        self.last_failure = 0.0
        self.failures = 0
        self.reason = ""

    def unavailable(self, reason: str) -> DatabaseUnavailable:
        """Note one failed operation; the error to raise for it."""
        now = time.monotonic()
        if self.since is None:
            self.since, self.failures, self.reason = now, 0, reason
            log.error("database %s is not available: %s; answering 503 until it is back", self.name, reason)
        self.failures += 1
        self.last_failure = now
        return DatabaseUnavailable(reason)

    def answered(self) -> None:
        """Note one operation that succeeded (cheap when there is no fault)."""
        if self.since is None:
            return
        now = time.monotonic()
        if now - self.last_failure < QUIET_SECONDS:
            return
        log.warning(
            "database %s is available again after %.1f s (%s; %d operations failed)",
            self.name,
            now - self.since,
            self.reason,
            self.failures,
        )
        self.since = None

    @asynccontextmanager
    async def watching(self, on_fault: Callable[[], Awaitable[None]] | None = None) -> AsyncIterator[None]:
        """Around one database operation: a transient fault it raises is re-raised as 503
        (:meth:`unavailable`, after ``on_fault``), anything else as it was; success is noted
        (:meth:`answered`).  Every engine's reader and transaction run inside it."""
        try:
            yield
        except Exception as exc:
            reason = fault_reason(exc)
            if reason is None:
                raise
            if on_fault is not None:
                await on_fault()
            raise self.unavailable(reason) from exc
        self.answered()

    @property
    def down(self) -> bool:
        """Whether a fault has begun and not yet been seen to end."""
        return self.since is not None

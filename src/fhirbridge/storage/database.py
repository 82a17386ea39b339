"""The two database engines behind one small async interface.

SQL is written once with PostgreSQL's ``$1`` placeholders; the SQLite engine rewrites them
to ``?1``.  Where the dialects differ (row locks, advisory locks, list parameters) the
:class:`Dialect` says how.  Storage code sees only :class:`Connection` and
:class:`Database`, never a driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fhirbridge.search.index import IndexRows
    from fhirbridge.storage.records import StoredResource
    from fhirbridge.storage.version_rows import NewVersion

Row = Sequence[Any]


class WriteRace(Exception):
    """Another writer got there first (a unique key, a deadlock, a serialisation failure).

    The write path runs the whole transaction again when it sees this."""


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines, as SQL fragments."""

    name: str
    lock_for_update: str
    """Taken before a delete: it waits for writers that are referring to the row."""
    lock_for_no_key_update: str
    """Taken before an update: it does not wait for writers that only refer to the row."""
    lock_for_key_share: str
    """Taken on a row a writer refers to: it waits only for a writer that took ``lock_for_update``
    (a merge of the Patient, say), never for updates."""
    feed_horizon: str | None = None
    """The change feed's horizon: a ``txid`` below which every writer has finished, read in the
    statement's own snapshot (:mod:`fhirbridge.storage.feed`); None where writers commit in
    ``seq`` order (SQLite)."""

    def in_list(self, placeholder: str) -> str:
        """``column <in_list>`` matching any element of a list parameter."""
        if self.name == "postgresql":
            return f"= ANY({placeholder})"
        return f"IN (SELECT value FROM json_each({placeholder}))"


POSTGRESQL = Dialect(
    "postgresql",
    " FOR UPDATE",
    " FOR NO KEY UPDATE",
    " FOR KEY SHARE",
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
)
SQLITE = Dialect("sqlite", "", "", "")


class VersionWriter(Protocol):
    """How an engine writes a version, many new resources, a deletion, and finds live reference
    targets (:mod:`fhirbridge.storage.versions`), each in one round trip."""

    async def save(
        self,
        record: StoredResource,
        previous_pk: int | None,
        method: str,
        rows: IndexRows,
        links: list[tuple[str, str, str]],
    ) -> int: ...

    async def create_many(
        self, versions: Sequence[NewVersion], method: str, pause: Callable[[], Awaitable[None]] | None = None
    ) -> list[int]:
        """New resources, one statement per table; ``pause`` is awaited between the pieces of a
        write that holds the event loop (an embedded engine), where the caller may let others run."""

    async def delete(self, record: StoredResource, pk: int) -> None: ...

    async def live(self, targets: set[tuple[str, str]]) -> set[tuple[str, str]]: ...


class Connection(Protocol):
    """One database connection, inside a transaction or a read."""

    dialect: Dialect

    @property
    def versions(self) -> VersionWriter:
        """This engine's writer of versions, on this connection."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    async def execute(self, sql: str, *args: Any) -> None: ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def advisory_lock(self, key: str) -> None:
        """Serialise writers that use the same key until this transaction ends."""


class Database(Protocol):
    """An open database: reads, write transactions, and shutdown."""

    dialect: Dialect

    def reader(self, *, snapshot: bool = False, heavy: bool = False) -> AbstractAsyncContextManager[Connection]:
        """A connection for reads; ``snapshot`` makes several statements see one state, and
        ``heavy`` says the reads may scan (an embedded engine keeps them off the event loop)."""

    def transaction(self, *, heavy: bool = False, at_once: bool = False) -> AbstractAsyncContextManager[Connection]:
        """A write transaction, committed when the block ends without an exception; ``heavy``
        as for :meth:`reader`.  An engine may commit several writes together (SQLite's group
        commit); ``at_once`` commits when this block ends, without waiting for others to join."""

    def pool_use(self) -> tuple[int, int] | None:
        """The connection pool's connections (in use, open), or None for an engine without one."""

    async def close(self) -> None: ...


class PinnedDatabase:
    """A :class:`Database` whose readers and transactions are all one open connection: reads
    made in the middle of a write transaction (the access policy's) see what it wrote so far,
    and take no second connection from the pool."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect

    @asynccontextmanager
    async def _same(self) -> AsyncIterator[Connection]:
        yield self.conn

    def reader(self, *, snapshot: bool = False, heavy: bool = False) -> AbstractAsyncContextManager[Connection]:
        return self._same()

    def transaction(self, *, heavy: bool = False, at_once: bool = False) -> AbstractAsyncContextManager[Connection]:
        return self._same()

    def pool_use(self) -> tuple[int, int] | None:
        return None

    async def close(self) -> None:
        return None

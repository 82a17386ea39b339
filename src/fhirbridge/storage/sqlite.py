"""The embedded SQLite engine: the standard library driver.

SQLite answers from its page cache in microseconds, far less than a hop to a worker thread
costs, so write transactions and point reads run on the event loop's own thread.  What may
wait does not: a ``BEGIN IMMEDIATE`` that finds another process holding the write lock
waits on a worker thread, heavy reads (searches that may scan) run on worker threads, and
checkpoints (copying the WAL into the database file, with its fsyncs) run in the background
instead of inside a commit.  One writer connection takes the write transactions, one at a
time (also across processes, through SQLite's own lock); a pool of read-only connections
serves reads in parallel under WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from fhirbridge.failure_log import FailureLog
from fhirbridge.storage.database import SQLITE, Row, WriteRace
from fhirbridge.storage.faults import FaultWatch
from fhirbridge.storage.versions_sqlite import SqliteVersions

T = TypeVar("T")
log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"\$(\d+)")
_translated: dict[str, str] = {}
BUSY_TIMEOUT_MS = 30_000
CHECKPOINT_INTERVAL_S = 1.0
WAL_KEPT_BYTES = 64 * 1024 * 1024
INLINE_STEPS = 200_000
"""SQLite virtual machine steps a read run on the event loop's thread may take (a few
milliseconds) before it is stopped and run again on a worker thread: a read that looked
selective (an index lookup by equality) may still meet a patient's hundred thousand access log
entries, and must not hold up every other request while it reads them (review 20)."""
PROGRESS_STEPS = 10_000
"""How often SQLite calls the progress handler that stops an inline read.  SQLite counts a
prepared statement's steps over all its runs (``SQLITE_STMTSTATUS_VM_STEP``) and calls the
handler when that count crosses a multiple of this, so the first call may come at any point of
one run: a read is stopped only once the handler has been called more than
``INLINE_STEPS // PROGRESS_STEPS`` times in it.  (With the handler set to ``INLINE_STEPS`` and
stopping at its first call, a cheap read that runs thousands of times was stopped every
200,000 steps of its runs together, and the stop left that connection preparing the statement
anew at every later run.)"""


def _translate(sql: str) -> str:
    found = _translated.get(sql)
    if found is None:
        found = _translated[sql] = _PLACEHOLDER.sub(r"?\1", sql)
    return found


def _params(args: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(json.dumps(list(a)) if isinstance(a, list | tuple | set | frozenset) else a for a in args)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("PRAGMA synchronous = NORMAL")
    raw.execute("PRAGMA temp_store = MEMORY")
    raw.execute("PRAGMA cache_size = -65536")
    raw.execute("PRAGMA case_sensitive_like = ON")  # LIKE as in PostgreSQL
    if read_only:
        raw.execute("PRAGMA query_only = ON")
    else:
        raw.execute("PRAGMA journal_mode = WAL")
    return raw


def _unique_race(exc: sqlite3.IntegrityError) -> Exception:
    return WriteRace(str(exc)) if "UNIQUE" in str(exc) else exc


class SqliteConnection:
    """A connection whose statements run inline, or on ``executor`` when one is given.  A
    reader's inline statements run for at most :data:`INLINE_STEPS` there, and are run again
    on ``fallback`` when they take longer (reads only: a stopped read changes nothing)."""

    dialect = SQLITE

    def __init__(
        self, raw: sqlite3.Connection, executor: ThreadPoolExecutor | None, fallback: ThreadPoolExecutor | None = None
    ) -> None:
        self._raw = raw
        self._executor = executor
        self._fallback = fallback
        self.versions = SqliteVersions(self.call)
        self.interrupted = False
        """Whether an inline read was stopped: the stopped statement stays busy in the
        connection's statement cache, so that every later run of the same SQL would be
        prepared again (tens of microseconds each); the pool closes such a connection."""

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        if self._executor is not None:
            return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)
        if self._fallback is None:
            return func(*args)
        calls = 0

        def stop() -> int:
            nonlocal calls
            calls += 1
            # 1: SQLite stops the statement (SQLITE_INTERRUPT); a read transaction stays open
            return 1 if calls > INLINE_STEPS // PROGRESS_STEPS else 0

        self._raw.set_progress_handler(stop, PROGRESS_STEPS)
        try:
            return func(*args)
        except sqlite3.OperationalError:
            if calls <= INLINE_STEPS // PROGRESS_STEPS:
                raise
            self.interrupted = True
        finally:
            self._raw.set_progress_handler(None, 0)
        return await asyncio.get_running_loop().run_in_executor(self._fallback, func, *args)

    async def call(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(raw_connection, *args)``: several statements for the price of one call."""
        try:
            return await self._run(func, self._raw, *args)
        except sqlite3.IntegrityError as exc:
            raise _unique_race(exc) from exc

    def _execute(self, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._raw.execute(_translate(sql), _params(args))
        except sqlite3.IntegrityError as exc:
            raise _unique_race(exc) from exc

    def _fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return self._execute(sql, args).fetchall()

    def _fetchrow(self, sql: str, args: Sequence[Any]) -> Row | None:
        row: Row | None = self._execute(sql, args).fetchone()
        return row

    def _executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        try:
            self._raw.executemany(_translate(sql), [_params(r) for r in rows])
        except sqlite3.IntegrityError as exc:
            raise _unique_race(exc) from exc

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._run(self._fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._run(self._fetchrow, sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._run(self._execute, sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if batch:
            await self._run(self._executemany, sql, batch)

    async def advisory_lock(self, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already serialises every writer."""


def _begin_waiting(raw: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE that waits for another process's write lock (on a worker thread)."""
    raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        raw.execute("BEGIN IMMEDIATE")
    finally:
        raw.execute("PRAGMA busy_timeout = 0")


def _checkpoint(raw: sqlite3.Connection) -> None:
    raw.execute("PRAGMA wal_checkpoint(PASSIVE)")


BATCH_MOST_WRITES = 32
BATCH_MOST_SECONDS = 0.025


class _Batch:
    """The writes that one SQLite transaction holds, and the outcome of its commit."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.committed: asyncio.Future[None] = loop.create_future()
        self.writes = 0
        self.scheduled = False  # a check whether to commit is due
        self._loop = loop
        self._began = loop.time()

    def full(self) -> bool:
        return self.writes >= BATCH_MOST_WRITES or self._loop.time() - self._began >= BATCH_MOST_SECONDS

    def fail(self, exc: BaseException) -> None:
        self.committed.set_exception(exc)
        self.committed.exception()  # retrieved here: a batch of failed writes has no one waiting


class SqliteDatabase:
    """An SQLite file opened for the service."""

    dialect = SQLITE

    def __init__(self, path: Path, *, read_threads: int = 4) -> None:
        self.path = path
        self._writer = connect(path)
        # The writer never waits inline: a busy database sends BEGIN to a worker thread, and
        # checkpoints happen in the background rather than in whichever commit crosses the mark.
        self._writer.execute("PRAGMA busy_timeout = 0")
        self._writer.execute("PRAGMA wal_autocheckpoint = 0")
        self._writer.execute(f"PRAGMA journal_size_limit = {WAL_KEPT_BYTES}")  # a restarted WAL is cut back
        self._checkpointer = connect(path)
        self._write_executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._read_executor = ThreadPoolExecutor(read_threads, thread_name_prefix="sqlite-reader")
        self._readers: list[sqlite3.Connection] = []
        self._write_lock: asyncio.Lock | None = None
        self._batch: _Batch | None = None
        self._queued = 0  # writes waiting for the writer connection
        self._checkpoints: asyncio.Task[None] | None = None
        self.faults = FaultWatch(f"sqlite:///{path}")

    async def _checkpoint_now_and_then(self) -> None:
        failures = FailureLog(log, "the SQLite checkpoint")
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            try:
                await self.checkpoint()
                await self._checkpoint_the_rest()
            except sqlite3.Error as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    failures.failed(exc)  # busy or locked is normal; the next round will do it
                continue
            except Exception as exc:  # whatever it is, the checkpoints must go on
                failures.failed(exc)
                continue
            failures.succeeded()

    async def _checkpoint_the_rest(self) -> None:
        """Copy what the writes added while the checkpoint ran, with the writes held back: the
        next write then starts the WAL from its beginning again.  Under steady writes a WAL
        that is never wholly copied at the moment a write begins is never restarted, and grows
        without end (hundreds of megabytes a minute, each commit extending the file)."""
        await self._take_turn()
        try:
            if self._batch is not None:
                self._commit(self._batch)
            await self.checkpoint()
        finally:
            self._end_turn(at_once=False)

    async def _take_turn(self) -> None:
        """Wait for the writer connection (the writes queue for it in turn)."""
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        self._queued += 1
        try:
            await self._write_lock.acquire()
        except BaseException:  # gave up waiting (cancelled): the open batch must not wait for it
            self._queued -= 1
            self._check_soon()
            raise
        self._queued -= 1

    async def checkpoint(self) -> None:
        """Copy the WAL into the database file now (the background task does this every second)."""
        await self._on_thread(self._write_executor, _checkpoint, self._checkpointer)

    async def _on_thread(self, executor: ThreadPoolExecutor, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, func, *args)

    @asynccontextmanager
    async def reader(self, *, snapshot: bool = False, heavy: bool = False) -> AsyncIterator[SqliteConnection]:
        async with self.faults.watching(), self._reader(snapshot=snapshot, heavy=heavy) as connection:
            yield connection

    @asynccontextmanager
    async def _reader(self, *, snapshot: bool, heavy: bool) -> AsyncIterator[SqliteConnection]:
        raw = self._readers.pop() if self._readers else connect(self.path, read_only=True)
        connection = SqliteConnection(raw, self._read_executor if heavy else None, self._read_executor)
        try:
            if snapshot:
                await connection.execute("BEGIN")
                try:
                    yield connection
                finally:
                    await connection.execute("COMMIT")
            else:
                yield connection
        finally:
            if connection.interrupted:
                raw.close()
            else:
                self._readers.append(raw)

    @asynccontextmanager
    async def transaction(self, *, heavy: bool = False, at_once: bool = False) -> AsyncIterator[SqliteConnection]:
        """:meth:`_transaction`, its transient faults (locked beyond the busy timeout, I/O
        errors, a read-only file) answered 503 and logged once."""
        async with self.faults.watching(), self._transaction(heavy=heavy, at_once=at_once) as connection:
            yield connection

    @asynccontextmanager
    async def _transaction(self, *, heavy: bool, at_once: bool) -> AsyncIterator[SqliteConnection]:
        """One write, atomic and alone: writes run one at a time on the writer connection.

        Group commit: a write is a savepoint inside a batch transaction that later writers
        queued behind it join, and the batch commits when no writer waits (or it is full or
        old).  A write that fails rolls back to its savepoint and changed nothing; one that
        succeeds returns only once its batch has committed, so what follows a write (its
        answer, its listeners) still happens after the commit, and a batch whose commit fails
        fails every write in it.  A commit copies every page the transaction touched into the
        WAL, and the writes of a batch share most of their pages (the tables' tails, the
        indexes' upper levels), so this divides the largest cost of a small write.  ``at_once``
        commits the batch as this write ends, without giving others the chance to join; a
        ``heavy`` write (one that may take long) commits the writes before it first.
        """
        if self._checkpoints is None:
            self._checkpoints = asyncio.get_running_loop().create_task(self._checkpoint_now_and_then())
        await self._take_turn()
        try:
            if heavy and self._batch is not None:
                # A long write does not hold the finished writes before it unanswered.
                self._commit(self._batch)
            batch = self._batch
            if batch is None:
                try:
                    self._writer.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError:  # another process writes: wait for it off the loop
                    await self._on_thread(self._write_executor, _begin_waiting, self._writer)
                batch = self._batch = _Batch(asyncio.get_running_loop())
            batch.writes += 1
            self._writer.execute("SAVEPOINT one_write")
            try:
                yield SqliteConnection(self._writer, self._write_executor if heavy else None)
            except BaseException:
                self._undo_one_write(batch)
                raise
            self._writer.execute("RELEASE one_write")
        finally:
            self._end_turn(at_once)
        await asyncio.shield(batch.committed)  # done already when committed at once: no turn given

    def _undo_one_write(self, batch: _Batch) -> None:
        if self._writer.in_transaction:
            self._writer.execute("ROLLBACK TO one_write")
            self._writer.execute("RELEASE one_write")
            return
        # SQLite rolled the whole transaction back (an I/O error, a full disk): the batch's
        # earlier writes are gone with it, and they learn so from their commit.
        self._batch = None
        batch.fail(sqlite3.OperationalError("the write transaction was rolled back by SQLite"))

    def _end_turn(self, at_once: bool) -> None:
        """Give the writer connection to the next write; the batch commits once no write is
        under way or waiting, after the tasks ready to run now had their turn to join it."""
        assert self._write_lock is not None
        batch = self._batch
        try:
            if batch is not None and (at_once or batch.full()):
                self._commit(batch)
        finally:
            self._write_lock.release()
            self._check_soon()

    def _check_soon(self) -> None:
        if self._batch is not None and not self._batch.scheduled:
            self._batch.scheduled = True
            asyncio.get_running_loop().call_soon(self._commit_if_idle)

    def _commit_if_idle(self) -> None:
        assert self._write_lock is not None
        batch = self._batch
        if batch is None:
            return
        batch.scheduled = False
        if not self._write_lock.locked() and self._queued == 0:
            self._commit(batch)

    def _commit(self, batch: _Batch) -> None:
        self._batch = None
        try:
            self._writer.execute("COMMIT")
        except sqlite3.Error as exc:
            batch.fail(exc)
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            return
        batch.committed.set_result(None)

    def pool_use(self) -> tuple[int, int] | None:
        """None: one writer connection and a thread per reader, no pool to run out of."""
        return None

    async def close(self) -> None:
        if self._batch is not None:
            self._commit(self._batch)
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
        await self.checkpoint()
        self._checkpointer.close()
        for raw in self._readers:
            raw.close()
        self._readers.clear()
        await self._on_thread(self._write_executor, self._writer.close)
        self._read_executor.shutdown(wait=True)
        self._write_executor.shutdown(wait=True)

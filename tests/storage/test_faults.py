"""SQLite's faults as a client sees them: a database locked beyond the busy timeout is 503
``transient`` with ``Retry-After``, changes nothing, is logged once when it begins and once
when it ends, and the service goes on when the lock is gone.  And which driver errors are
faults (retry) rather than bugs (500)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import asyncpg
import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from fhirbridge.storage import faults, sqlite
from fhirbridge.storage.faults import fault_reason
from fhirbridge.storage.migrations import upgrade
from tests.conftest import BASE
from tests.support import builders


async def test_a_database_locked_beyond_the_busy_timeout_is_503_and_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(faults, "QUIET_SECONDS", 0.2)
    path = tmp_path / "locked.db"
    upgrade(f"sqlite:///{path}")
    settings = Settings(database_url=f"sqlite:///{path}", auto_migrate=False, auth="off", outbox_worker="off")
    app = create_app(settings)
    other_process = sqlite3.connect(path, isolation_level=None)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        other_process.execute("BEGIN IMMEDIATE")  # another process holds SQLite's one write lock
        try:
            answers = [
                await client.put(f"/fhir/Practitioner/p{n}", json=dict(builders.practitioner(), id=f"p{n}"))
                for n in range(3)
            ]
        finally:
            other_process.execute("ROLLBACK")
        for answer in answers:
            assert answer.status_code == 503
            assert answer.headers["Retry-After"].isdigit()
            issue = answer.json()["issue"][0]
            assert issue["code"] == "transient"
            assert str(path) not in issue["diagnostics"]
        assert "locked" in answers[0].json()["issue"][0]["diagnostics"]
        await asyncio.sleep(0.3)

        assert (await client.get("/fhir/Practitioner/p0")).status_code == 404  # the refused write changed nothing
        written = await client.put("/fhir/Practitioner/p0", json=dict(builders.practitioner(), id="p0"))
        assert written.status_code == 201
    other_process.close()

    lines = [record for record in caplog.records if record.name == "fhirbridge.storage.faults"]
    assert [record.levelno for record in lines] == [logging.ERROR, logging.WARNING], [r.getMessage() for r in lines]
    assert "locked by another writer" in lines[0].getMessage()
    assert str(path) in lines[0].getMessage()  # the log names the database
    assert "available again" in lines[1].getMessage()
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"


def test_faults_are_told_from_bugs(tmp_path: Path) -> None:
    path = tmp_path / "read-only.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.Error) as written:
        read_only.execute("INSERT INTO t VALUES (1)")
    assert fault_reason(written.value) == "the database file is read-only"
    with pytest.raises(sqlite3.Error) as missing:
        read_only.execute("SELECT * FROM no_such_table")
    assert fault_reason(missing.value) is None  # a bug (or a missing migration), not a fault
    with pytest.raises(sqlite3.Error) as syntax:
        read_only.execute("SELEC 1")
    assert fault_reason(syntax.value) is None

    assert fault_reason(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    assert fault_reason(asyncpg.AdminShutdownError("terminating connection")) == "the server is shutting down"
    assert fault_reason(asyncpg.CannotConnectNowError("starting up")) is not None
    assert fault_reason(asyncpg.ConnectionDoesNotExistError("closed")) == "the connection to the server was lost"
    assert fault_reason(asyncpg.UndefinedTableError("no such relation")) is None
    # seen under load when the server went away mid-operation (tests/rest/test_database_outage.py)
    busy = asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress")
    assert fault_reason(busy) == "the connection to the server was lost"
    assert fault_reason(asyncpg.InternalClientError("unexpected state")) is None
    assert fault_reason(asyncpg.QueryCanceledError("statement timeout")) is None  # a 503 of its own: timeout
    wrapped = RuntimeError("SQLAlchemy's wrapper")
    wrapped.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert fault_reason(wrapped) == "connection refused"
    assert fault_reason(ValueError("a bug")) is None

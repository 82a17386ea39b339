"""The one write path: listeners run inside the write transaction, and a failure anywhere
before commit leaves the database as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from fhirbridge.errors import FhirError, conflict
from fhirbridge.identity import SYSTEM, Identity
from fhirbridge.repository import FhirRepository
from fhirbridge.storage.database import Database
from fhirbridge.storage.engines import open_database
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.events import WriteEvent
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult
from tests.support import builders


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url, pool_size=4)
    yield db
    await db.close()


def _patient() -> object:
    return validate_resource(builders.patient(), "Patient", url_id=None, local_base=None)


async def _count_resources(database: Database) -> int:
    async with database.reader() as conn:
        return int(await conn.fetchval("SELECT COUNT(*) FROM resources"))


async def test_listeners_see_every_change_of_the_transaction(database: Database) -> None:
    seen: list[WriteEvent] = []

    async def listener(unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        # The listener runs inside the transaction: it can read what the unit wrote.
        assert await unit.conn.fetchval("SELECT COUNT(*) FROM resources") == 2
        seen.extend(events)

    repository = FhirRepository(database, listeners=(listener,))

    async def work(unit: UnitOfWork) -> list[WriteResult]:
        return [await unit.create(_patient()), await unit.create(_patient())]  # type: ignore[arg-type]

    results = await repository.write(SYSTEM, None, work)
    assert [e.action for e in seen] == ["create", "create"]
    assert [e.record.resource_id for e in seen] == [r.record.resource_id for r in results if r.record]
    assert all(e.identity is SYSTEM for e in seen)


async def test_a_failing_listener_rolls_everything_back(database: Database) -> None:
    async def refuse(unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        raise conflict("the outbox is full")

    repository = FhirRepository(database, listeners=(refuse,))
    with pytest.raises(FhirError):
        await repository.write(SYSTEM, None, lambda unit: unit.create(_patient()))  # type: ignore[arg-type]
    assert await _count_resources(database) == 0
    async with database.reader() as conn:
        assert await conn.fetchval("SELECT COUNT(*) FROM resource_versions") == 0
        assert await conn.fetchval("SELECT COUNT(*) FROM idx_token") == 0


async def test_a_failing_reference_check_rolls_back_earlier_writes(database: Database) -> None:
    repository = FhirRepository(database)
    dangling = validate_resource(builders.care_plan("missing"), "CarePlan", url_id=None, local_base=None)

    async def work(unit: UnitOfWork) -> None:
        await unit.create(_patient())  # type: ignore[arg-type]
        await unit.create(dangling)

    with pytest.raises(FhirError) as raised:
        await repository.write(SYSTEM, None, work)
    assert raised.value.status == 422
    assert raised.value.issues[0].expression == ("CarePlan.subject.reference",)
    assert await _count_resources(database) == 0


async def test_only_the_servers_own_writes_are_dated(database: Database) -> None:
    """``at`` dates a change (the demo's contract history): the server's own loading only; a
    caller's write is never dated, so nobody back-dates a revision."""
    repository = FhirRepository(database)
    caller = Identity(kind="user", subject="Practitioner/1", on_behalf_of="Organization/1")
    with pytest.raises(ValueError):
        await repository.write(caller, None, lambda unit: unit.create(_patient()), at=1_000_000)  # type: ignore[arg-type]
    assert await _count_resources(database) == 0
    created = await repository.write(SYSTEM, None, lambda unit: unit.create(_patient()), at=1_700_000_000_000_000)  # type: ignore[arg-type]
    assert created.record.last_updated == 1_700_000_000_000_000

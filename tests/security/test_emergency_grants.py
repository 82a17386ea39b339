"""Emergency grants found by their patient (issue 12): the ``emergency_grants`` rows are kept
with every grant written, filled from the grants stored before the table existed, and give a
patient's open grants (the access policy's emergency access rests on them)."""

from __future__ import annotations

from pathlib import Path

from fhirbridge.access.grants import EmergencyGrants, open_grants
from fhirbridge.audit.index import audit_index
from fhirbridge.fhir.instants import format_instant
from fhirbridge.identity import SYSTEM
from fhirbridge.repository import FhirRepository
from fhirbridge.storage.migrations import upgrade
from fhirbridge.writes.unit_of_work import UnitOfWork
from tests.support.databases import opened
from tests.writes.test_create_records import NOW, emergency_grant

HOUR = 3_600_000_000


def _ended(patient: str) -> dict[str, object]:
    grant = emergency_grant(patient)
    grant["period"] = {"start": format_instant(NOW - 2 * HOUR), "end": format_instant(NOW - HOUR)}
    return grant


async def _write(repository: FhirRepository, grants: list[tuple[str, dict[str, object]]]) -> None:
    async def work(unit: UnitOfWork) -> None:
        await unit.create_records("AuditEvent", grants, index=audit_index)

    await repository.write(SYSTEM, None, work)


async def test_grants_stored_before_the_table_are_found_after_the_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'before.db'}"
    upgrade(url, "0010")
    async with opened(url) as database:  # the service as it was: no listener keeps grants
        await _write(FhirRepository(database, ()), [("open-bo", emergency_grant("bo")), ("ended-bo", _ended("bo"))])
    upgrade(url)
    async with opened(url) as database, database.reader() as conn:
        assert [g["id"] for g in await open_grants(conn, "bo", NOW, 10)] == ["open-bo"]
        assert await open_grants(conn, "bo", NOW + 2 * HOUR, 10) == []  # it ends
        assert await open_grants(conn, "anna", NOW, 10) == []


async def test_a_grant_written_is_found_by_its_patient_until_it_ends(database_url: str) -> None:
    async with opened(database_url) as database:
        repository = FhirRepository(database, (EmergencyGrants(),))
        await _write(
            repository,
            [
                ("grant-cilla", emergency_grant("cilla")),
                ("old-cilla", _ended("cilla")),
                ("grant-dan", emergency_grant("dan")),
            ],
        )
        async with database.reader() as conn:
            assert [g["id"] for g in await open_grants(conn, "cilla", NOW, 10)] == ["grant-cilla"]
            assert [g["id"] for g in await open_grants(conn, "dan", NOW, 10)] == ["grant-dan"]
            assert await open_grants(conn, "cilla", NOW + 2 * HOUR, 10) == []  # it ends

        async def delete(unit: UnitOfWork) -> None:
            await unit.delete("AuditEvent", "grant-cilla")

        await repository.write(SYSTEM, None, delete)
        async with database.reader() as conn:
            assert await open_grants(conn, "cilla", NOW, 10) == []
            assert len(await open_grants(conn, "dan", NOW, 10)) == 1

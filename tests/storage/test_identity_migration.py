"""The migration that adds the unique patient identities refuses while active Patients share a
number, names them and says to link them; once they are linked it runs and records who holds
each number.  The unique key is the database's own: it holds even for a writer that skips the
write path."""

from __future__ import annotations

import asyncio

import pytest

from fhirbridge.patients.check import check_identities
from fhirbridge.patients.identity import IdentitySystems
from fhirbridge.storage import identities
from fhirbridge.storage.database import WriteRace
from fhirbridge.storage.migrations import MigrationRefused, upgrade
from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM
from tests.support import builders
from tests.support.api import write_as_before
from tests.support.databases import opened

BEFORE = "0005"


async def test_the_migration_refuses_while_patients_share_a_number(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    number, other = builders.personnummer(), builders.personnummer()
    one = dict(builders.patient(number), id="reserve-registered")
    two = dict(builders.patient(number), id="identified")
    three = dict(builders.patient(other), id="someone-else")
    async with opened(empty_url) as database:
        for patient in (one, two, three):
            await write_as_before(database, patient)
        found = (await check_identities(database, IdentitySystems())).shared  # fhirbridge db check, before
        assert [(n.value, n.patient_ids) for n in found] == [(number, ("identified", "reserve-registered"))]

    with pytest.raises(MigrationRefused) as refused:
        await asyncio.to_thread(upgrade, empty_url)
    message = str(refused.value)
    assert f"personnummer {number}: Patient/identified, Patient/reserve-registered" in message
    assert "someone-else" not in message
    assert "Link each group first" in message and "replaced-by" in message and "Patient/$merge" in message

    # Linked as the message says (with the version that runs now), the migration runs.
    replaced = dict(one, active=False, link=[{"other": {"reference": "Patient/identified"}, "type": "replaced-by"}])
    async with opened(empty_url) as database:
        await write_as_before(database, replaced)
    await asyncio.to_thread(upgrade, empty_url)
    async with opened(empty_url) as database, database.reader() as conn:
        assert await identities.holder(conn, PERSONNUMMER_SYSTEM, number) == "identified"
        assert await identities.holder(conn, PERSONNUMMER_SYSTEM, other) == "someone-else"


async def test_the_unique_key_holds_without_the_write_rule(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    number = builders.personnummer()
    async with opened(empty_url) as database:
        async with database.transaction() as conn:
            assert await identities.claim(conn, PERSONNUMMER_SYSTEM, number, "first") == "first"
            assert await identities.claim(conn, PERSONNUMMER_SYSTEM, number, "second") == "first"
        with pytest.raises(WriteRace):
            async with database.transaction() as conn:
                await conn.execute(
                    "INSERT INTO patient_identities (system, value, patient_id) VALUES ($1, $2, $3)",
                    PERSONNUMMER_SYSTEM,
                    number,
                    "second",
                )

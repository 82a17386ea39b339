"""A read that brings its access epochs (store.read_current_with_epochs): the same record a plain
read gives, and, from the same statement, the epochs read_epochs gives for the directory and for
every patient the resource names (the Patient itself, for a Patient); 0 for a scope never raised."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from fhirbridge.storage import store, versions
from fhirbridge.storage.database import Database
from fhirbridge.storage.epochs import DIRECTORY, patient_scope, raise_epochs, read_epochs
from tests.storage.test_new_versions import new_version
from tests.support import builders
from tests.support.databases import opened


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with opened(database_url) as database:
        yield database


async def _store(database: Database, resource: dict[str, Any], resource_id: str) -> None:
    async with database.transaction() as conn:
        await versions.save_new(conn, [new_version(resource, resource_id)], "POST")


async def test_the_record_comes_with_the_epochs_of_the_patients_it_names(database: Database) -> None:
    await _store(database, builders.patient("191212121212"), "p1")
    await _store(database, builders.care_plan("p1"), "plan1")
    async with database.transaction() as conn:
        await raise_epochs(conn, [patient_scope("p1"), DIRECTORY])
        await raise_epochs(conn, [patient_scope("p1")])
    async with database.reader() as conn:
        plain = await store.read_current(conn, "CarePlan", "plan1")
        record, epochs = await store.read_current_with_epochs(conn, "CarePlan", "plan1", DIRECTORY)
        expected = await read_epochs(conn, [patient_scope("p1"), DIRECTORY])
    assert record == plain
    assert epochs == {patient_scope("p1"): expected[0], DIRECTORY: expected[1]} == {"Patient/p1": 2, DIRECTORY: 1}


async def test_a_patient_brings_its_own_epoch_and_a_scope_never_raised_is_zero(database: Database) -> None:
    await _store(database, builders.patient("191212121212"), "p2")
    async with database.reader() as conn:
        record, epochs = await store.read_current_with_epochs(conn, "Patient", "p2", DIRECTORY)
    assert record is not None and record.resource_id == "p2"
    assert epochs == {patient_scope("p2"): 0, DIRECTORY: 0}


async def test_a_resource_not_there_still_brings_the_directory(database: Database) -> None:
    async with database.transaction() as conn:
        await raise_epochs(conn, [DIRECTORY])
    async with database.reader() as conn:
        record, epochs = await store.read_current_with_epochs(conn, "CarePlan", "missing", DIRECTORY)
    assert record is None
    assert epochs == {DIRECTORY: 1}

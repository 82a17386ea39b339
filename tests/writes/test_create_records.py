"""The server's own records written many at a time (the access log's batches, issue 12) are the
resources :meth:`UnitOfWork.create` would have written one by one: the same bytes and history,
found by the same searches, told to the same listeners."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from fhirbridge.access.epochs import AccessEpochs
from fhirbridge.access.grants import AUDIT_SUBTYPES, EMERGENCY_ACCESS
from fhirbridge.audit.events import Seen, audit_event, audit_events
from fhirbridge.audit.index import audit_index
from fhirbridge.fhir.instants import format_instant
from fhirbridge.identity import SYSTEM, Identity
from fhirbridge.repository import FhirRepository
from fhirbridge.search.query import parse_query
from fhirbridge.storage.database import Connection, Database
from fhirbridge.storage.engines import open_database
from fhirbridge.storage.epochs import patient_scope, read_epochs
from fhirbridge.storage.schema import INDEXED
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.events import WriteEvent
from fhirbridge.writes.unit_of_work import UnitOfWork

NOW = 1_780_000_000_000_000
NURSE = Identity(kind="user", subject="Practitioner/nurse-1", on_behalf_of="Organization/unit-1", client_id="journal")
ANNA = Identity(kind="patient", subject="Patient/anna", patient="anna", client_id="1177")
REGION = Identity(kind="system", subject="region-integration", client_id="region-integration")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    opened = await open_database(database_url, pool_size=4)
    yield opened
    await opened.close()


def logged(identity: Identity, interaction: str, seen: Seen, **request: Any) -> list[dict[str, Any]]:
    arguments: dict[str, Any] = {"operation": None, "status": 200, "message": None, "query": None}
    arguments |= {"client_address": "10.1.2.3"} | request
    return audit_events(identity, interaction=interaction, seen=seen, now_us=NOW, **arguments)


def emergency_grant(patient: str) -> dict[str, Any]:
    """As ``$emergency-access`` writes it."""
    seen = Seen(patients={patient}, emergency_reasons={"Medvetslös i akuten"})
    event = audit_event(
        NURSE,
        interaction="operation",
        operation="emergency-access",
        status=200,
        message=f"Emergency access to Patient/{patient} opened for 60 minutes",
        seen=seen,
        query=None,
        client_address=None,
        now_us=NOW,
    )
    event["subtype"] = [{"system": AUDIT_SUBTYPES, "code": EMERGENCY_ACCESS}]
    event["period"] = {"start": format_instant(NOW), "end": format_instant(NOW + 3_600_000_000)}
    return event


def varied_events() -> list[dict[str, Any]]:
    """Events with and without patients, emergency reasons, queries, entries not for the patient,
    more entities than are named, from a person, a patient and a system."""
    many = [f"Communication/c{n}/_history/1" for n in range(130)]
    kept_from_anna = Seen(["CarePlan/plan-1/_history/2", "Goal/goal-1/_history/1"], {"anna"})
    kept_from_anna.not_for_patient.add("CarePlan/plan-1/_history/2")
    return [
        *logged(NURSE, "read", Seen(["CarePlan/plan-1/_history/2"], {"anna"})),
        *logged(ANNA, "search-type", Seen(many, {"anna"}), query="patient=anna&_count=200"),
        *logged(NURSE, "vread", kept_from_anna),
        *logged(NURSE, "read", Seen(["Patient/bo/_history/1"], {"bo"}, {"Medvetslös"})),
        *logged(REGION, "create", Seen(["Patient/cilla/_history/1"], {"cilla"}), status=201, client_address=None),
        *logged(ANNA, "read", Seen(), status=403, message="You may not read CarePlan/plan-9"),
        emergency_grant("bo"),
    ]


SEARCHES = [
    ("patient", "anna"),
    ("patient", "Patient/bo"),
    ("agent", "Practitioner/nurse-1"),
    ("agent", "Organization/unit-1"),
    ("agent:identifier", "https://fhirbridge.se/fhir/NamingSystem/oauth-client|region-integration"),
    ("entity", "CarePlan/plan-1"),
    ("entity", "Communication/c99"),
    ("entity-type", "2"),
    ("entity-role", "24"),
    ("altid", "1177"),
    ("address", "10.1"),
    ("action", "C"),
    ("outcome", "4"),
    ("subtype", "read"),
    ("subtype", f"{AUDIT_SUBTYPES}|{EMERGENCY_ACCESS}"),
    ("type", "rest"),
    ("date", format_instant(NOW)[:10]),
    ("_security", "http://terminology.hl7.org/CodeSystem/v3-ActCode|NOPATIENT"),
    ("_lastUpdated", f"ge{format_instant(NOW)[:10]}"),
]


async def stored(conn: Connection, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
    """What the records with ids ``prefix-n`` left in every table, named ``n``."""

    def named(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        found = []
        for resource_id, *values in rows:
            short = resource_id.removeprefix(f"{prefix}-")
            found.append(
                (
                    short,
                    *(
                        bytes(v).replace(resource_id.encode(), b"ID") if isinstance(v, bytes | memoryview) else v
                        for v in values
                    ),
                )
            )
        return sorted(found, key=repr)

    like = f"{prefix}-%"
    tables = {
        "resources": await conn.fetch(
            "SELECT res_id, res_type, version, last_updated, deleted, content FROM resources WHERE res_id LIKE $1", like
        ),
        "resource_versions": await conn.fetch(
            "SELECT res_id, res_type, version, last_updated, method, content FROM resource_versions "
            "WHERE res_id LIKE $1",
            like,
        ),
    }
    for table in INDEXED:
        values = ", ".join(f"t.{column.name}" for column in table.columns if column.name != "res_pk")
        tables[table.name] = await conn.fetch(
            f"SELECT r.res_id, {values} FROM {table.name} t JOIN resources r ON r.pk = t.res_pk WHERE r.res_id LIKE $1",
            like,
        )
    return {name: named(rows) for name, rows in tables.items()}


async def test_records_written_together_are_the_resources_create_writes_one_by_one(database: Database) -> None:
    events = varied_events()
    told: list[WriteEvent] = []

    async def listener(unit: UnitOfWork, changes: Sequence[WriteEvent]) -> None:
        told.extend(changes)

    repository = FhirRepository(database, (listener,))

    async def work(unit: UnitOfWork) -> None:
        for number, event in enumerate(events):
            await unit.create(ValidatedResource("AuditEvent", event, ()), f"one-{number}")
        await unit.create_records("AuditEvent", [(f"all-{n}", e) for n, e in enumerate(events)], index=audit_index)

    await repository.write(SYSTEM, None, work)
    async with database.reader() as conn:
        one_by_one, together = await stored(conn, "one"), await stored(conn, "all")
    assert len(one_by_one["resources"]) == len(events) and one_by_one["idx_token"]
    assert together == one_by_one  # every byte of every row, but the ids

    def same(change: WriteEvent) -> tuple[Any, ...]:
        record = dataclasses.replace(change.record, resource_id="", pk=None, content=None)
        return change.action, record, change.previous, change.identity, change.by_server

    assert [same(change) for change in told[: len(events)]] == [same(change) for change in told[len(events) :]]

    for name, value in SEARCHES:
        query = parse_query("AuditEvent", [(name, value)], strict=True, default_count=100, max_count=100)
        found = [record.resource_id for record in (await repository.search(query, None)).matches]
        ones = sorted(i.removeprefix("one-") for i in found if i.startswith("one-"))
        alls = sorted(i.removeprefix("all-") for i in found if i.startswith("all-"))
        assert ones and ones == alls, f"{name}={value}"
    history = await repository.history(resource_type="AuditEvent", resource_id="all-3", since=None, past=None, limit=10)
    assert [(entry.version, entry.method) for entry in history] == [(1, "POST")]


async def test_an_emergency_grant_among_them_raises_its_patients_access_epoch(database: Database) -> None:
    repository = FhirRepository(database, (AccessEpochs(),))
    events = [*logged(NURSE, "read", Seen(["Patient/dora/_history/1"], {"dora"})), emergency_grant("erik")]

    async def work(unit: UnitOfWork) -> None:
        await unit.create_records("AuditEvent", [(f"e-{n}", e) for n, e in enumerate(events)], index=audit_index)

    await repository.write(SYSTEM, None, work)
    async with database.reader() as conn:
        assert await read_epochs(conn, [patient_scope("erik"), patient_scope("dora")]) == (1, 0)


async def test_only_the_servers_records_are_written_this_way(database: Database) -> None:
    """Their references are records, not links to check; a caller's write goes through create."""
    repository = FhirRepository(database)

    async def patients(unit: UnitOfWork) -> None:
        await unit.create_records("Patient", [("p-1", {"resourceType": "Patient"})])

    async def contained(unit: UnitOfWork) -> None:
        event = dict(emergency_grant("erik"), contained=[{"resourceType": "Patient", "id": "x"}])
        await unit.create_records("AuditEvent", [("c-1", event)])

    for work in (patients, contained):
        with pytest.raises(ValueError):
            await repository.write(SYSTEM, None, work)

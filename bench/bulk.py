"""Bulk seeding for the large-scale search benchmarks (a million contracts).

Going through the write path at about a thousand resources a second would take hours for a
million contracts, so this seeder writes the tables directly: the same canonical JSON, the
same search index rows (:func:`fhirbridge.search.index.extract_index`) and the same links
that the write path stores, checked by the JSON-form walker (the R4B model check is skipped
for speed; the generator's output passes full validation in ``tests/demo``).  Rows go in with
``COPY`` on PostgreSQL and ``executemany`` on SQLite, in batches of one transaction each,
with keys assigned here.

A *compact contract* is what a contract transaction carries: Patient, CareTeam (fixed care
contact, fixed doctor, a treating role), two Goals and the contract CarePlan with its
activities, about 5.5 kB of JSON together.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import asyncpg
from tqdm import tqdm

from fhirbridge.contract.codes import (
    ACTIVITY_KIND_SYSTEM,
    ACTIVITY_KINDS,
    CARE_ROLE_SYSTEM,
    CARE_ROLES,
    GOAL_KIND_SYSTEM,
    GOAL_KINDS,
    PLAN_TYPE_SYSTEM,
    PLAN_TYPES,
    concept,
)
from fhirbridge.demo.catalogue import CLINICIANS, FAMILY, GIVEN_FEMALE, GIVEN_MALE, SCENARIOS
from fhirbridge.demo.generator import CONTRACT_IDENTIFIER_SYSTEM
from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.patients.identity import IdentitySystems, held_numbers
from fhirbridge.report.cellkey import RecordKeys
from fhirbridge.report.facts import ANSWERED_FOR_UNIT, QUESTIONNAIRES, QUESTIONS, facts_of
from fhirbridge.report.projection import ALL_COLUMNS as REPORT_COLUMNS
from fhirbridge.report.projection import projection_rows
from fhirbridge.search.index import IndexRows, extract_index
from fhirbridge.storage.urls import parse_database_url
from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM, gender_of, make_personnummer
from fhirbridge.validation.json_form import check_json_form
from fhirbridge.writes.canonical import canonical_bytes, with_server_fields

Resource = dict[str, Any]
CONTRACT_SIZE = 5  # resources in a compact contract
_CLINICIANS = {clinician.key: clinician for clinician in CLINICIANS}
BENCH_KEYS = RecordKeys(b"bench")
"""The report's record keys of seeded rows (any fixed secret: the timing is the same)."""


def personnummer_of(index: int) -> str:
    """A valid personnummer for compact contract ``index``, unique per index (up to 10 million)."""
    birth = date(1930, 1, 1) + timedelta(days=index % 25_000)
    serial = (index // 25_000) % 1000
    return make_personnummer(birth, serial)


def _role(key: str) -> dict[str, str]:
    person = _CLINICIANS[key]
    return {"reference": f"PractitionerRole/role-{key}", "display": f"{person.given} {person.family}"}


def compact_contract(index: int, today: date, span_days: int = 700) -> list[Resource]:
    """Patient, CareTeam, two Goals and a contract CarePlan, with fixed ids ``bulk-…-{index}``."""
    rng = random.Random(index)
    scenario = SCENARIOS[index % len(SCENARIOS)]
    number = personnummer_of(index)
    female = gender_of(number) == "female"
    given = rng.choice(GIVEN_FEMALE if female else GIVEN_MALE)
    family = rng.choice(FAMILY)
    pid = f"bulk-patient-{index}"
    patient_ref = {"reference": f"Patient/{pid}", "display": f"{given} {family}"}
    start = (today - timedelta(days=rng.randint(10, span_days))).isoformat()
    next_day = today + timedelta(days=rng.randint(3, 60))
    members = [(scenario.fixed_contact, "fast-vardkontakt"), (scenario.fixed_doctor, "fast-lakarkontakt")]
    members += [(key, _CLINICIANS[key].role) for key in scenario.treating[:1]]
    goals = [
        {
            "resourceType": "Goal",
            "id": f"bulk-goal-{index}-{n}",
            "lifecycleStatus": "active",
            "category": [concept(GOAL_KIND_SYSTEM, GOAL_KINDS, kind)],
            "description": {"text": text},
            "subject": patient_ref,
            "startDate": start,
            "expressedBy": patient_ref,
        }
        for n, (kind, text) in enumerate(
            (("vad-ar-viktigt", scenario.what_matters), ("gemensamt-mal", scenario.shared_goal)), 1
        )
    ]

    def activity(kind: str, text: str, performer: dict[str, str]) -> dict[str, Any]:
        return {
            "detail": {
                "code": concept(ACTIVITY_KIND_SYSTEM, ACTIVITY_KINDS, kind),
                "status": "in-progress",
                "performer": [performer],
                "description": text,
            }
        }

    return [
        {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": number}],
            "name": [{"family": family, "given": [given]}],
            "gender": gender_of(number),
            "birthDate": f"{number[0:4]}-{number[4:6]}-{number[6:8]}",
        },
        {
            "resourceType": "CareTeam",
            "id": f"bulk-careteam-{index}",
            "status": "active",
            "subject": patient_ref,
            "participant": [
                {
                    "role": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, role)],
                    "member": _role(key),
                    "period": {"start": start},
                }
                for key, role in members
            ],
        },
        *goals,
        {
            "resourceType": "CarePlan",
            "id": f"bulk-contract-{index}",
            "identifier": [{"system": CONTRACT_IDENTIFIER_SYSTEM, "value": f"PK-B-{index}"}],
            "status": "active",
            "intent": "plan",
            "category": [concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, "patientkontrakt")],
            "title": f"Patientkontrakt för {given} {family}",
            "subject": patient_ref,
            "period": {"start": start},
            "created": start,
            "author": _role(scenario.fixed_contact),
            "careTeam": [{"reference": f"CareTeam/bulk-careteam-{index}"}],
            "goal": [{"reference": f"Goal/{goal['id']}"} for goal in goals],
            "activity": [
                activity("egen-insats", scenario.my_part, patient_ref),
                activity("vardens-insats", scenario.care_part, _role(scenario.fixed_contact)),
                activity("nar-soka-vard", scenario.seek_care, patient_ref),
                activity("kontaktvag", scenario.whom_to_contact, _role(scenario.fixed_contact)),
                {
                    "detail": {
                        "kind": "Appointment",
                        "code": concept(ACTIVITY_KIND_SYSTEM, ACTIVITY_KINDS, "nasta-kontakt"),
                        "status": "scheduled",
                        "scheduledPeriod": {"start": f"{next_day.isoformat()}T09:00:00+01:00"},
                        "performer": [_role(scenario.fixed_contact)],
                        "description": scenario.next_contact,
                    }
                },
            ],
        },
    ]


_UNITS = sorted({clinician.unit for clinician in CLINICIANS})
_QUESTIONNAIRE = {kind: url for url, kind in QUESTIONNAIRES.items()}


def seven_question_responses(index: int, count: int, today: date, span_days: int = 700) -> list[Resource]:
    """``count`` completed seven-questions responses about contract ``index``'s unit: the
    patient's first, then staff's (``bulk-answer-{index}-{n}``)."""
    rng = random.Random(-index)
    scenario = SCENARIOS[index % len(SCENARIOS)]
    unit = f"org-{_CLINICIANS[scenario.fixed_contact].unit}"
    out = []
    for n in range(count):
        kind = "patient" if n % 2 == 0 else "staff"
        who = (
            {"reference": f"Patient/bulk-patient-{index}"}
            if kind == "patient"
            else {"reference": f"PractitionerRole/role-{scenario.fixed_contact}"}
        )
        out.append(
            {
                "resourceType": "QuestionnaireResponse",
                "id": f"bulk-answer-{index}-{n}",
                "extension": [{"url": ANSWERED_FOR_UNIT, "valueReference": {"reference": f"Organization/{unit}"}}],
                "questionnaire": _QUESTIONNAIRE[kind],
                "status": "completed",
                "subject": who if kind == "patient" else {"reference": f"Organization/{unit}"},
                "author": who,
                "authored": (today - timedelta(days=rng.randint(0, span_days))).isoformat(),
                "item": [{"linkId": q, "answer": [{"valueBoolean": rng.random() < 0.8}]} for q in QUESTIONS],
            }
        )
    return out


@dataclass
class Rows:
    """Rows for every table, ready to insert."""

    resources: list[tuple[Any, ...]] = field(default_factory=list)
    versions: list[tuple[Any, ...]] = field(default_factory=list)
    token: list[tuple[Any, ...]] = field(default_factory=list)
    string: list[tuple[Any, ...]] = field(default_factory=list)
    date: list[tuple[Any, ...]] = field(default_factory=list)
    reference: list[tuple[Any, ...]] = field(default_factory=list)
    uri: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[tuple[Any, ...]] = field(default_factory=list)
    identities: list[tuple[Any, ...]] = field(default_factory=list)
    report: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {name: [] for name in REPORT_COLUMNS})


TABLES = {
    "resources": ("pk", "res_type", "res_id", "version", "last_updated", "deleted", "content"),
    "resource_versions": ("seq", "res_type", "res_id", "version", "last_updated", "method", "content"),
    "idx_token": ("res_pk", "res_type", "param", "system", "code", "text"),
    "idx_string": ("res_pk", "res_type", "param", "normalized", "exact", "sortable"),
    "idx_date": ("res_pk", "res_type", "param", "low", "high"),
    "idx_reference": ("res_pk", "res_type", "param", "target_type", "target_id", "target_url"),
    "idx_uri": ("res_pk", "res_type", "param", "value"),
    "resource_links": ("res_pk", "path", "target_type", "target_id"),
    "patient_identities": ("system", "value", "patient_id"),
}
_FIELDS = ("resources", "versions", "token", "string", "date", "reference", "uri", "links", "identities")


def rows_for(resources: list[Resource], first_pk: int, stamp: int) -> Rows:
    """The rows the write path would store for these new resources (version 1 each)."""
    rows = Rows()
    for offset, resource in enumerate(resources):
        pk = first_pk + offset
        kind, rid = resource["resourceType"], resource["id"]
        report = check_json_form(resource)
        if report.issues:
            raise ValueError(f"{kind}/{rid}: {report.issues[0]}")
        stored = with_server_fields(resource, rid, 1, stamp)
        content = canonical_bytes(stored)
        rows.resources.append((pk, kind, rid, 1, stamp, False, content))
        rows.versions.append((pk, kind, rid, 1, stamp, "POST", content))
        # a type this version does not store yet (QuestionnaireResponse before issue 13) has no index
        index = extract_index(kind, stored) if kind in STORED_TYPES else IndexRows()
        rows.token += [(pk, kind, *row) for row in index.token]
        rows.string += [(pk, kind, *row) for row in index.string]
        rows.date += [(pk, kind, *row) for row in index.date]
        rows.reference += [(pk, kind, *row) for row in index.reference]
        rows.uri += [(pk, kind, *row) for row in index.uri]
        rows.links += [
            (pk, found.path, found.parsed.resource_type, found.parsed.resource_id)
            for found in report.references
            if found.parsed.kind == "local" and found.parsed.resource_id
        ]
        for table, projected in projection_rows(pk, facts_of(kind, stored), stamp, BENCH_KEYS).items():
            rows.report[table] += projected
        if kind == "Patient":
            rows.identities += [(n.system, n.value, rid) for n in held_numbers(stored, IdentitySystems())]
    return rows


async def _insert_postgres(connection: asyncpg.Connection, rows: Rows) -> None:
    async with connection.transaction():
        for table, name in zip(TABLES, _FIELDS, strict=True):
            records = getattr(rows, name)
            if records:
                await connection.copy_records_to_table(table, records=records, columns=list(TABLES[table]))
        for table, records in rows.report.items():
            if records:
                await connection.copy_records_to_table(table, records=records, columns=list(REPORT_COLUMNS[table]))


def _insert_sqlite(connection: sqlite3.Connection, rows: Rows) -> None:
    connection.execute("BEGIN")
    for table, name in zip(TABLES, _FIELDS, strict=True):
        columns = TABLES[table]
        marks = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", getattr(rows, name))
    for table, records in rows.report.items():
        columns = REPORT_COLUMNS[table]
        marks = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", records)
    connection.execute("COMMIT")


def _build(
    start: int, stop: int, first_pk: int, stamp: int, today: date, answers: int = 0, span_days: int = 700
) -> Rows:
    """Rows for contracts ``start`` to ``stop - 1``, each with ``answers`` seven-questions
    responses (run in a worker process)."""
    batch = [
        resource
        for index in range(start, stop)
        for resource in [
            *compact_contract(index, today, span_days),
            *seven_question_responses(index, answers, today, span_days),
        ]
    ]
    return rows_for(batch, first_pk, stamp)


async def bulk_seed(
    url: str,
    contracts: int,
    *,
    first_pk: int,
    batch_contracts: int = 2000,
    answers_per_contract: int = 0,
    today: date | None = None,
    span_days: int = 700,
) -> float:
    """Insert ``contracts`` compact contracts (each with ``answers_per_contract`` seven-questions
    responses) after the rows that exist (keys from ``first_pk``), begun (and answered) up to
    ``span_days`` before ``today`` (default: now).

    Rows are built by two worker processes while this one inserts.  The shared organisations
    and clinicians must be there already.  Returns the seconds taken."""
    target = parse_database_url(url)
    today = today or date.today()
    started = time.perf_counter()
    pg: asyncpg.Connection | None = None
    lite: sqlite3.Connection | None = None
    if target.kind == "postgresql":
        pg = await asyncpg.connect(target.postgres_dsn)
    else:
        assert target.sqlite_path is not None
        lite = sqlite3.connect(target.sqlite_path, isolation_level=None)
        lite.execute("PRAGMA journal_mode = WAL")
        lite.execute("PRAGMA synchronous = OFF")
        lite.execute("PRAGMA cache_size = -1000000")
    loop = asyncio.get_running_loop()
    ranges = [(s, min(s + batch_contracts, contracts + 1)) for s in range(1, contracts + 1, batch_contracts)]
    try:
        with (
            ProcessPoolExecutor(2) as pool,
            tqdm(total=contracts, desc="bulk seeding", unit="contract", file=sys.stderr) as bar,
        ):
            pending: deque[asyncio.Future[Rows]] = deque()
            pk = first_pk
            for start, stop in ranges:
                pending.append(
                    loop.run_in_executor(
                        pool, _build, start, stop, pk, now_us(), today, answers_per_contract, span_days
                    )
                )
                pk += (stop - start) * (CONTRACT_SIZE + answers_per_contract)
                if len(pending) >= 3:
                    await _insert(pg, lite, await pending.popleft(), bar)
            while pending:
                await _insert(pg, lite, await pending.popleft(), bar)
        # What the write path raises for every patient and for the directory (storage/epochs.py):
        # without these rows the planner's statistics would describe an almost empty table that
        # the measured writes then fill (a full scan of it for every access judgement).
        epochs = (
            "INSERT INTO access_epochs (scope, epoch) SELECT scope, 1 FROM ("
            "SELECT 'Patient/' || res_id AS scope FROM resources WHERE res_type = 'Patient' "
            "UNION ALL SELECT 'directory') AS seeded WHERE true ON CONFLICT (scope) DO NOTHING"
        )
        if pg is not None:
            await pg.execute(epochs)
        elif lite is not None:
            lite.execute(epochs)
        if pg is not None:
            # Keys were assigned here: move the sequences past them, then let the planner see the data.
            for table, column in (("resources", "pk"), ("resource_versions", "seq")):
                await pg.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT MAX({column}) FROM {table}))"
                )
            await pg.execute("VACUUM ANALYZE")
            await pg.execute("CHECKPOINT")
        elif lite is not None:
            lite.execute("ANALYZE")
            lite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        if pg is not None:
            await pg.close()
        if lite is not None:
            lite.close()
    return time.perf_counter() - started


async def _insert(pg: asyncpg.Connection | None, lite: sqlite3.Connection | None, rows: Rows, bar: tqdm[Any]) -> None:
    if pg is not None:
        await _insert_postgres(pg, rows)
    else:
        assert lite is not None
        _insert_sqlite(lite, rows)
    bar.update(len(rows.report["report_contracts"]))

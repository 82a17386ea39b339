"""Keeping the report's projection (``report_*`` tables) in step with the resources.

:class:`ReportProjection` is a write listener (:mod:`fhirbridge.writes.events`): for every
CarePlan, CareTeam, QuestionnaireResponse and Condition a transaction wrote or deleted, it
replaces that resource's projection rows in the same transaction, so the report never sees a
change the resources do not (and a rolled-back write leaves no row).  :func:`projection_rows`
is the one description of the rows, shared with the migration that fills the tables for data
written before them and with the benchmarks' bulk seeder.

Contracts and responses carry record keys (:mod:`fhirbridge.report.cellkey`): ``record_key``
of the record and, on a contract, ``patient_key`` of its patient, made with the report's secret
(:mod:`fhirbridge.report.secret`).  They are :data:`KEY_COLUMNS`, after the others: migration
0008 fills the tables as they were before the keys (without them), 0009 adds and fills the keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fhirbridge.report.cellkey import RecordKeys
from fhirbridge.report.facts import PROJECTED, Facts, facts_of
from fhirbridge.report.secret import database_secret
from fhirbridge.storage.schema import REPORT_TABLES
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

Rows = dict[str, list[tuple[Any, ...]]]
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "report_contracts": ("record_key", "patient_key"),
    "report_answers": ("record_key",),
}
"""The record keys of the cell-key method, last in their tables."""
COLUMNS: dict[str, tuple[str, ...]] = {
    table.name: tuple(c.name for c in table.columns if c.name not in KEY_COLUMNS.get(table.name, ()))
    for table in REPORT_TABLES
}
"""The columns of migration 0008: every one but the keys."""
ALL_COLUMNS = {name: (*columns, *KEY_COLUMNS.get(name, ())) for name, columns in COLUMNS.items()}
_TABLES_OF = {
    "CarePlan": ("report_contract_units", "report_contracts"),
    "CareTeam": ("report_fixed_roles",),
    "QuestionnaireResponse": ("report_answers",),
    "Condition": ("report_conditions",),
}
"""Which tables each projected type writes: only those are cleared when it changes."""
_INSERTS = {
    name: f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join(f'${i}' for i in range(1, len(cols) + 1))})"
    for name, cols in ALL_COLUMNS.items()
}


def projection_rows(pk: int, facts: Facts, revised: int, keys: RecordKeys | None = None) -> Rows:
    """The ``report_*`` rows of the resource stored under ``pk`` (last written at ``revised``):
    with the record keys of ``keys`` (:data:`ALL_COLUMNS`), or without them (:data:`COLUMNS`)."""
    rows: Rows = {name: [] for name in COLUMNS}
    contract = facts.contract
    if contract is not None:
        rows["report_contracts"].append(
            (
                pk,
                contract.patient_id,
                contract.status,
                contract.started,
                contract.author,
                contract.next_contact,
                contract.declined,
                revised,
                *((keys.record(pk), keys.patient(contract.patient_id)) if keys else ()),
            )
        )
        rows["report_contract_units"] += [(pk, unit) for unit in contract.units]
    rows["report_fixed_roles"] += [(pk, f.patient_id, f.role, f.begins, f.ends) for f in facts.fixed_roles]
    if facts.answers is not None:
        a = facts.answers
        key = (keys.record(pk),) if keys else ()
        rows["report_answers"].append((pk, a.respondent, a.unit_id, a.patient_id, a.authored, *a.answers, *key))
    if facts.condition is not None:
        rows["report_conditions"].append((pk, facts.condition.patient_id, facts.condition.chapter))
    return rows


def insert_statement(table: str) -> str:
    """The INSERT of one ``report_*`` table, with ``$n`` placeholders."""
    return _INSERTS[table]


class ReportProjection:
    """A write listener: rewrites the projection rows of every resource the unit changed, with
    record keys under ``secret`` (None: the database's, read once)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._keys = RecordKeys(secret) if secret else None

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        latest: dict[int, WriteEvent] = {}
        for event in events:
            if event.record.resource_type in PROJECTED and event.record.pk is not None:
                latest[event.record.pk] = event  # several writes of one resource: the last counts
        if latest and self._keys is None:
            self._keys = RecordKeys(await database_secret(unit.conn))
        for pk, event in latest.items():
            for table in _TABLES_OF[event.record.resource_type]:
                await unit.conn.execute(f"DELETE FROM {table} WHERE res_pk = $1", pk)
            if event.action == "delete" or event.resource is None:
                continue
            facts = facts_of(event.record.resource_type, event.resource, unit.local_base)
            for table, rows in projection_rows(pk, facts, event.record.last_updated, self._keys).items():
                if rows:
                    await unit.conn.executemany(_INSERTS[table], rows)

"""One person, one Patient: the unique personnummer, samordningsnummer and reserve numbers.

Creates ``patient_identities`` (unique over system and value) and records the numbers of every
Patient that stands for a person (:mod:`fhirbridge.patients.identity`).  While two such
Patients share a number the unique key cannot exist, so the migration refuses, names them and
says how to link them; nothing is changed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from fhirbridge.config import get_settings
from fhirbridge.fhir.jsonio import loads
from fhirbridge.patients.identity import IdentitySystems, held_numbers, shared_numbers
from fhirbridge.storage.identities import SHARED_CANDIDATES
from fhirbridge.storage.migrations import MigrationRefused

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 1000
IDENTITIES = sa.table(
    "patient_identities", sa.column("system", sa.Text), sa.column("value", sa.Text), sa.column("patient_id")
)


def _patients(bind: sa.Connection) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every live Patient, a page at a time."""
    after = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT pk, res_id, content FROM resources WHERE res_type = 'Patient' AND NOT deleted "
                "AND pk > :after ORDER BY pk LIMIT :page"
            ),
            {"after": after, "page": PAGE},
        ).all()
        for row in rows:
            yield row[1], loads(row[2])
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def upgrade() -> None:
    bind = op.get_bind()
    systems = IdentitySystems(frozenset(get_settings().reserve_number_systems))
    candidates = [(row[0], loads(row[1])) for row in bind.execute(sa.text(SHARED_CANDIDATES))]
    shared = shared_numbers(candidates, systems)
    if shared:
        listed = "\n".join(f"  {number.describe(systems)}" for number in shared)
        raise MigrationRefused(
            f"The database holds {len(shared)} number(s) that several active Patients share:\n{listed}\n"
            "One person must be one Patient before this version can keep it so. Link each group first, "
            "with the version you run now: keep one Patient, and give each of the others "
            '"active": false and a link {"other": {"reference": "Patient/<the one you keep>"}, '
            '"type": "replaced-by"} (an inactive or replaced Patient holds no number), or correct a '
            "mistyped number. Then upgrade again; afterwards POST Patient/$merge with source-patient = "
            "each replaced Patient and target-patient = the one you kept moves its records over. "
            "`fhirbridge db check` lists the shared numbers at any time."
        )
    op.create_table(
        "patient_identities",
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.UniqueConstraint("system", "value", name="uq_patient_identities_system_value"),
    )
    op.create_index("ix_patient_identities_patient", "patient_identities", ["patient_id"])
    batch: list[dict[str, str]] = []
    for patient_id, patient in _patients(bind):
        numbers = {(n.system, n.value) for n in held_numbers(patient, systems)}
        batch += [{"system": system, "value": value, "patient_id": patient_id} for system, value in sorted(numbers)]
        if len(batch) >= PAGE:
            op.bulk_insert(IDENTITIES, batch)
            batch = []
    if batch:
        op.bulk_insert(IDENTITIES, batch)


def downgrade() -> None:
    op.drop_table("patient_identities")

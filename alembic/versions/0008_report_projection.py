"""The follow-up report's projection (issue 13): ``report_contracts``, ``report_contract_units``,
``report_fixed_roles``, ``report_answers`` and ``report_conditions``, filled from the live
resources already stored (:mod:`fhirbridge.report.facts`); from here on the write path keeps
them (:class:`fhirbridge.report.projection.ReportProjection`).

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fhirbridge.config import get_settings
from fhirbridge.fhir.jsonio import loads
from fhirbridge.report.facts import PROJECTED, facts_of
from fhirbridge.report.projection import COLUMNS, projection_rows

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 1000
_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_REF = 2 * 64 + 1


def _fk(primary: bool) -> sa.Column[int]:
    return sa.Column(
        "res_pk", _PK, sa.ForeignKey("resources.pk", ondelete="CASCADE"), primary_key=primary, nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "report_contracts",
        _fk(True),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=True),
        sa.Column("author", sa.String(_REF), nullable=True),
        sa.Column("next_contact", sa.BigInteger(), nullable=True),
        sa.Column("declined", sa.Boolean(), nullable=False),
        sa.Column("revised", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_report_contracts_patient", "report_contracts", ["patient_id"])
    op.create_table("report_contract_units", _fk(False), sa.Column("unit", sa.String(_REF), nullable=False))
    op.create_index("ix_report_contract_units_res", "report_contract_units", ["res_pk"])
    op.create_table(
        "report_fixed_roles",
        _fk(False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("begins", sa.BigInteger(), nullable=True),
        sa.Column("ends", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_report_fixed_roles_patient", "report_fixed_roles", ["patient_id", "role"])
    op.create_index("ix_report_fixed_roles_res", "report_fixed_roles", ["res_pk"])
    op.create_table(
        "report_answers",
        _fk(True),
        sa.Column("respondent", sa.String(8), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("authored", sa.BigInteger(), nullable=True),
        *(sa.Column(f"q{n}", sa.Integer(), nullable=True) for n in range(1, 8)),
    )
    op.create_table(
        "report_conditions",
        _fk(True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("chapter", sa.String(8), nullable=False),
    )
    op.create_index("ix_report_conditions_patient", "report_conditions", ["patient_id"])
    _fill(op.get_bind())


def _fill(bind: sa.Connection) -> None:
    """The projection of every live resource already stored, a page at a time."""
    base = get_settings().base_url
    types = ", ".join(f"'{kind}'" for kind in sorted(PROJECTED))
    after = 0
    while True:
        page = bind.execute(
            sa.text(
                f"SELECT pk, res_type, last_updated, content FROM resources WHERE res_type IN ({types}) "
                "AND NOT deleted AND pk > :after ORDER BY pk LIMIT :page"
            ),
            {"after": after, "page": PAGE},
        ).all()
        for pk, kind, revised, content in page:
            rows = projection_rows(pk, facts_of(kind, loads(content), base), revised)
            for table, values in rows.items():
                if values:
                    columns = COLUMNS[table]
                    statement = sa.text(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
                    )
                    bind.execute(statement, [dict(zip(columns, row, strict=True)) for row in values])
        if len(page) < PAGE:
            return
        after = page[-1][0]


def downgrade() -> None:
    for table in ("report_conditions", "report_answers", "report_fixed_roles", "report_contract_units"):
        op.drop_table(table)
    op.drop_table("report_contracts")

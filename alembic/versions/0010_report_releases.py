"""The follow-up report's releases and frozen tertials (issue 13, reviews 14-16): each tertial's
records are frozen once it has ended (:mod:`fhirbridge.report.freeze`), and each report is
computed once for its units and period and kept (:mod:`fhirbridge.report.releases`), so that
asking again, or watching while records are written, returns the same figures.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_releases",
        sa.Column("release_key", sa.String(64), primary_key=True),
        sa.Column("made_at", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("ix_report_releases_made_at", "report_releases", ["made_at"])
    op.create_table(
        "report_frozen_tertials",
        sa.Column("tertial_start", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("frozen_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "report_frozen_contracts",
        sa.Column("tertial_start", sa.BigInteger(), nullable=False),
        sa.Column("res_pk", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("started", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("declined", sa.Boolean(), nullable=False),
        sa.Column("record_key", sa.Integer(), nullable=False),
        sa.Column("patient_key", sa.Integer(), nullable=False),
        sa.Column("in_force", sa.Integer(), nullable=False),
        sa.Column("patient_row", sa.Integer(), nullable=False),
        sa.Column("age_band", sa.String(16), nullable=False),
        sa.Column("sex", sa.String(16), nullable=False),
        sa.Column("chapter", sa.String(8), nullable=True),
        sa.Column("municipal", sa.Integer(), nullable=False),
        sa.Column("fvk", sa.Integer(), nullable=False),
        sa.Column("fld", sa.Integer(), nullable=False),
        sa.Column("ahead", sa.Integer(), nullable=False),
        sa.Column("revision_band", sa.String(16), nullable=False),
    )
    op.create_index("ix_report_frozen_contracts_atom", "report_frozen_contracts", ["tertial_start", "unit_id"])
    op.create_table(
        "report_frozen_answers",
        sa.Column("tertial_start", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("respondent", sa.String(8), nullable=False),
        *(sa.Column(f"q{n}", sa.Integer(), nullable=True) for n in range(1, 8)),
        sa.Column("record_key", sa.Integer(), nullable=False),
    )
    op.create_index("ix_report_frozen_answers_atom", "report_frozen_answers", ["tertial_start", "unit_id"])


def downgrade() -> None:
    for table in ("report_frozen_answers", "report_frozen_contracts", "report_frozen_tertials"):
        op.drop_table(table)
    op.drop_index("ix_report_releases_made_at", "report_releases")
    op.drop_table("report_releases")

"""The follow-up report's releases (issue 13, reviews 14 and 15): each report is computed once for
its units and period and kept, so that asking again, or watching while records are written,
returns the same figures (:mod:`fhirbridge.report.releases`).

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


def downgrade() -> None:
    op.drop_index("ix_report_releases_made_at", "report_releases")
    op.drop_table("report_releases")

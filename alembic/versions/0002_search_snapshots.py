"""Snapshots of sorted search results, for stable paging; a Swedish sort key for strings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idx_string") as batch:
        batch.add_column(sa.Column("sortable", sa.Text(), nullable=True))
    op.create_table(
        "search_snapshots",
        sa.Column("snapshot_id", sa.String(32), primary_key=True),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
    )
    op.create_index("ix_search_snapshots_created", "search_snapshots", ["created"])
    op.create_table(
        "search_snapshot_rows",
        sa.Column(
            "snapshot_id",
            sa.String(32),
            sa.ForeignKey("search_snapshots.snapshot_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("res_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("idx_string") as batch:
        batch.drop_column("sortable")
    op.drop_table("search_snapshot_rows")
    op.drop_table("search_snapshots")

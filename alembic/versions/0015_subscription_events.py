"""The numbered events of each topic-based Subscription (Subscriptions Backport IG), kept for
``$events`` replay, and each Subscription's count of them and when it was last sent anything
(for heartbeats).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription_event_counters",
        sa.Column("subscription_id", sa.String(64), primary_key=True),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("last_sent", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "subscription_events",
        sa.Column("subscription_id", sa.String(64), primary_key=True),
        sa.Column("event_number", sa.BigInteger(), primary_key=True),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subscription_events")
    op.drop_table("subscription_event_counters")

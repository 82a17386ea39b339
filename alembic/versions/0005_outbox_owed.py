"""The notifications still owed, by subscriber and resource: the outbox claim reads only these.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWED = sa.text("delivered IS NULL AND failed IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_owed",
        "outbox",
        ["subscription_id", "res_type", "res_id", "pk"],
        postgresql_where=OWED,
        sqlite_where=OWED,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_owed", table_name="outbox")

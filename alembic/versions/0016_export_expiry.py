"""When a finished Bulk Data export expires: ``export_jobs.expires``, after which its status URL
answers 404 and the worker deletes the job and its files (FHIR Bulk Data 2.0
export.html#response---complete-status, the ``Expires`` header).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("export_jobs", sa.Column("expires", sa.BigInteger(), nullable=True))
    op.create_index("ix_export_jobs_expires", "export_jobs", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_export_jobs_expires", table_name="export_jobs")
    with op.batch_alter_table("export_jobs") as batch:
        batch.drop_column("expires")

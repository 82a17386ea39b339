"""Local links indexed by target and element path, for "the care teams whose subject is this patient".

The contract rules (fixed contacts, the signal) ask for a patient's CareTeams by
``CareTeam.subject``; with the path in the index they no longer read every link to the
patient (every signal Communication, every Provenance).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_resource_links_target", table_name="resource_links")
    op.create_index("ix_resource_links_target", "resource_links", ["target_type", "target_id", "path"])


def downgrade() -> None:
    op.drop_index("ix_resource_links_target", table_name="resource_links")
    op.create_index("ix_resource_links_target", "resource_links", ["target_type", "target_id"])

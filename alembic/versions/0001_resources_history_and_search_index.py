"""Resources, their history, and the search index.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _res_pk() -> sa.Column[int]:
    return sa.Column("res_pk", PK, sa.ForeignKey("resources.pk", ondelete="CASCADE"), nullable=False)


def _type_param() -> list[sa.Column[str]]:
    return [sa.Column("res_type", sa.String(64), nullable=False), sa.Column("param", sa.String(64), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.UniqueConstraint("res_type", "res_id", name="uq_resources_type_id"),
    )
    op.create_index("ix_resources_type_pk", "resources", ["res_type", "pk"])
    op.create_index("ix_resources_type_updated", "resources", ["res_type", "last_updated"])

    op.create_table(
        "resource_versions",
        sa.Column("seq", PK, primary_key=True, autoincrement=True),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.UniqueConstraint("res_type", "res_id", "version", name="uq_resource_versions_type_id_version"),
    )
    op.create_index("ix_resource_versions_type_seq", "resource_versions", ["res_type", "seq"])
    op.create_index("ix_resource_versions_updated", "resource_versions", ["last_updated"])

    op.create_table(
        "idx_token",
        _res_pk(),
        *_type_param(),
        sa.Column("system", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
    )
    op.create_index("ix_idx_token_value", "idx_token", ["res_type", "param", "code", "system"])
    op.create_index("ix_idx_token_res", "idx_token", ["res_pk"])

    op.create_table(
        "idx_string",
        _res_pk(),
        *_type_param(),
        sa.Column("normalized", sa.Text(), nullable=False),
        sa.Column("exact", sa.Text(), nullable=False),
    )
    op.create_index("ix_idx_string_value", "idx_string", ["res_type", "param", "normalized"])
    op.create_index("ix_idx_string_res", "idx_string", ["res_pk"])

    op.create_table(
        "idx_date",
        _res_pk(),
        *_type_param(),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_idx_date_low", "idx_date", ["res_type", "param", "low"])
    op.create_index("ix_idx_date_high", "idx_date", ["res_type", "param", "high"])
    op.create_index("ix_idx_date_res", "idx_date", ["res_pk"])

    op.create_table(
        "idx_reference",
        _res_pk(),
        *_type_param(),
        sa.Column("target_type", sa.String(64), nullable=True),
        sa.Column("target_id", sa.String(64), nullable=True),
        sa.Column("target_url", sa.Text(), nullable=True),
    )
    op.create_index("ix_idx_reference_value", "idx_reference", ["res_type", "param", "target_id"])
    op.create_index("ix_idx_reference_target", "idx_reference", ["target_type", "target_id"])
    op.create_index("ix_idx_reference_res", "idx_reference", ["res_pk"])

    op.create_table("idx_uri", _res_pk(), *_type_param(), sa.Column("value", sa.Text(), nullable=False))
    op.create_index("ix_idx_uri_value", "idx_uri", ["res_type", "param", "value"])
    op.create_index("ix_idx_uri_res", "idx_uri", ["res_pk"])

    op.create_table(
        "resource_links",
        _res_pk(),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("target_type", sa.String(64), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_resource_links_target", "resource_links", ["target_type", "target_id"])
    op.create_index("ix_resource_links_res", "resource_links", ["res_pk"])


def downgrade() -> None:
    for table in ("resource_links", "idx_uri", "idx_reference", "idx_date", "idx_string", "idx_token"):
        op.drop_table(table)
    op.drop_table("resource_versions")
    op.drop_table("resources")

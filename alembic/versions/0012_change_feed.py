"""The change feed (issue 15): each history row's position in commit order, ``(txid, seq)``.

``resource_versions.txid`` is, on PostgreSQL, the id of the transaction that wrote the version,
raised to the previous version's ``txid`` when that is higher (see :mod:`fhirbridge.storage.feed`
for why); on SQLite it stays 0.  A trigger sets it on every insert, so that no writer can leave
it out or get it wrong: the version writers as they are, an instance of the previous release
during a rolling upgrade, a bulk load.  Every version stored before this migration was committed
long ago and gets 0: the feed hands them out first, in ``seq`` order, before anything written
from here on.  The history indexes follow the new order.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEED_TXID = """
CREATE FUNCTION resource_versions_feed_txid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.txid := GREATEST(
        pg_current_xact_id()::text::bigint,
        (SELECT p.txid FROM resource_versions p
         WHERE p.res_type = NEW.res_type AND p.res_id = NEW.res_id
         ORDER BY p.version DESC LIMIT 1));
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    # A constant default fills the existing rows without rewriting them (PostgreSQL 11+, SQLite).
    op.add_column("resource_versions", sa.Column("txid", sa.BigInteger(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FEED_TXID)
        op.execute(
            "CREATE TRIGGER resource_versions_feed_txid BEFORE INSERT ON resource_versions "
            "FOR EACH ROW EXECUTE FUNCTION resource_versions_feed_txid()"
        )
    op.drop_index("ix_resource_versions_type_seq", table_name="resource_versions")
    op.create_index("ix_resource_versions_position", "resource_versions", ["txid", "seq"])
    op.create_index("ix_resource_versions_type_position", "resource_versions", ["res_type", "txid", "seq"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER resource_versions_feed_txid ON resource_versions")
        op.execute("DROP FUNCTION resource_versions_feed_txid()")
    op.drop_index("ix_resource_versions_type_position", table_name="resource_versions")
    op.drop_index("ix_resource_versions_position", table_name="resource_versions")
    op.create_index("ix_resource_versions_type_seq", "resource_versions", ["res_type", "seq"])
    with op.batch_alter_table("resource_versions") as batch:
        batch.drop_column("txid")

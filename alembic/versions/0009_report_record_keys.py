"""The cell-key method's record keys in the report's projection (issue 13, review 11): a
``record_key`` on every contract and response, a ``patient_key`` on every contract, and the
``report_secret`` they are made with (:mod:`fhirbridge.report.cellkey`,
:mod:`fhirbridge.report.secret`); the keys of the rows already projected are filled here.

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-20
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from fhirbridge.config import get_settings
from fhirbridge.report.cellkey import RecordKeys

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 1000


def upgrade() -> None:
    op.create_table(
        "report_secret",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("secret", sa.String(64), nullable=False),
    )
    for table, columns in (("report_contracts", ("record_key", "patient_key")), ("report_answers", ("record_key",))):
        for column in columns:
            op.add_column(table, sa.Column(column, sa.Integer(), nullable=False, server_default="0"))
    bind = op.get_bind()
    configured = get_settings().report_key_secret
    if configured is not None:
        secret = configured.get_secret_value()
    else:
        secret = secrets.token_hex(32)
        bind.execute(sa.text("INSERT INTO report_secret (id, secret) VALUES (1, :secret)"), {"secret": secret})
    keys = RecordKeys(secret.encode())
    _fill(bind, "report_contracts", lambda pk, patient: {"r": keys.record(pk), "p": keys.patient(patient)})
    _fill(bind, "report_answers", lambda pk, _: {"r": keys.record(pk)})


def _fill(bind: sa.Connection, table: str, keyed: Callable[[int, str | None], dict[str, int]]) -> None:
    """The keys of every row of ``table``, a page at a time."""
    patient = "patient_id" if table == "report_contracts" else "NULL"
    sets = "record_key = :r" + (", patient_key = :p" if table == "report_contracts" else "")
    after = 0
    while True:
        page = bind.execute(
            sa.text(f"SELECT res_pk, {patient} FROM {table} WHERE res_pk > :after ORDER BY res_pk LIMIT :page"),
            {"after": after, "page": PAGE},
        ).all()
        if page:
            bind.execute(
                sa.text(f"UPDATE {table} SET {sets} WHERE res_pk = :pk"),
                [{"pk": pk, **keyed(pk, patient_id)} for pk, patient_id in page],
            )
        if len(page) < PAGE:
            return
        after = page[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("report_answers") as answers:
        answers.drop_column("record_key")
    with op.batch_alter_table("report_contracts") as contracts:
        contracts.drop_column("patient_key")
        contracts.drop_column("record_key")
    op.drop_table("report_secret")

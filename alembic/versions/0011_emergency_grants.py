"""Emergency grants by patient (issue 12): ``emergency_grants``, filled from the grants already
stored (AuditEvents of subtype emergency-access); from here on the write path keeps it
(:class:`fhirbridge.access.grants.EmergencyGrants`), and the access policy finds a patient's open
grants there instead of searching the patient's whole access log.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fhirbridge.access.grants import AUDIT_SUBTYPES, EMERGENCY_ACCESS, grant_rows
from fhirbridge.fhir.jsonio import loads

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "emergency_grants",
        sa.Column("res_pk", _PK, sa.ForeignKey("resources.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("ends", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_emergency_grants_patient", "emergency_grants", ["patient_id", "ends"])
    op.create_index("ix_emergency_grants_res", "emergency_grants", ["res_pk"])
    bind = op.get_bind()
    stored = bind.execute(
        sa.text(
            "SELECT r.pk, r.content FROM resources r WHERE r.res_type = 'AuditEvent' AND NOT r.deleted "
            "AND r.pk IN (SELECT res_pk FROM idx_token WHERE res_type = 'AuditEvent' AND param = 'subtype' "
            "AND system = :system AND code = :code)"
        ),
        {"system": AUDIT_SUBTYPES, "code": EMERGENCY_ACCESS},
    ).all()
    rows = [row for pk, content in stored for row in grant_rows(pk, loads(content))]
    if rows:
        bind.execute(
            sa.text("INSERT INTO emergency_grants (res_pk, patient_id, ends) VALUES (:pk, :patient, :ends)"),
            [{"pk": pk, "patient": patient, "ends": ends} for pk, patient, ends in rows],
        )


def downgrade() -> None:
    op.drop_table("emergency_grants")

"""Emergency grants by patient (nödåtkomst, PDL 6 kap. 3 §): the ``emergency_grants`` table.

A grant is an AuditEvent of subtype emergency-access (``$emergency-access``) whose ``period``
says when it ends.  :class:`EmergencyGrants`, a write listener, keeps one row per grant and
patient in the transaction that writes (or changes, or deletes) the AuditEvent, so that the
access policy finds a patient's open grants with one index lookup (:func:`open_grants`).  Found
by search they were looked for among every entry of the patient's access log, which grows with
every read of their data: the cost of a patient's first read in a while grew with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fhirbridge.access.compartment import UNKNOWN_PATIENT, patients_of
from fhirbridge.fhir.jsonio import loads
from fhirbridge.search.dates import first_instant_after
from fhirbridge.storage.database import Connection
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

AUDIT_SUBTYPES = "https://fhirbridge.se/fhir/CodeSystem/audit-subtype"
EMERGENCY_ACCESS = "emergency-access"


def is_emergency_grant(resource: dict[str, Any] | None) -> bool:
    """Whether an AuditEvent records an emergency grant (its subtype)."""
    return resource is not None and any(
        isinstance(coding, dict) and coding.get("system") == AUDIT_SUBTYPES and coding.get("code") == EMERGENCY_ACCESS
        for coding in resource.get("subtype", [])
    )


def grant_rows(res_pk: int, resource: dict[str, Any] | None) -> list[tuple[int, str, int]]:
    """The rows of one stored AuditEvent: (its pk, a patient it opens, when it ends); none for
    an event that is no grant or gives no end (a grant without an end opens nothing)."""
    if not is_emergency_grant(resource):
        return []
    assert resource is not None
    ends = first_instant_after((resource.get("period") or {}).get("end"))
    if ends is None:
        return []
    patients = patients_of("AuditEvent", resource) or ()
    return [(res_pk, patient, ends) for patient in sorted(set(patients)) if patient != UNKNOWN_PATIENT]


class EmergencyGrants:
    """A write listener: the ``emergency_grants`` rows of every AuditEvent the unit wrote."""

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        gone: list[tuple[int]] = []
        rows: list[tuple[int, str, int]] = []
        for event in events:
            record = event.record
            if record.resource_type != "AuditEvent" or record.pk is None:
                continue
            if event.previous is not None:
                gone.append((record.pk,))
            rows += grant_rows(record.pk, event.resource)
        if gone:
            await unit.conn.executemany("DELETE FROM emergency_grants WHERE res_pk = $1", gone)
        if rows:
            await unit.conn.executemany(
                "INSERT INTO emergency_grants (res_pk, patient_id, ends) VALUES ($1, $2, $3)", rows
            )


async def open_grants(conn: Connection, patient_id: str, now: int, most: int) -> list[dict[str, Any]]:
    """The patient's grants that end after ``now``, latest end first, at most ``most``."""
    rows = await conn.fetch(
        "SELECT r.content FROM emergency_grants g JOIN resources r ON r.pk = g.res_pk "
        "WHERE g.patient_id = $1 AND g.ends > $2 AND NOT r.deleted ORDER BY g.ends DESC, g.res_pk LIMIT $3",
        patient_id,
        now,
        most,
    )
    return [loads(row[0]) for row in rows]

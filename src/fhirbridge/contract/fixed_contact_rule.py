"""At most one active fixed care contact, and one fixed doctor, per patient (seed 001, DOMAIN.md).

The Gävleborg population register accepts one fixed care contact per patient; seed 002 shows
regions that allow several (a stroke unit's and primary care's), so the limit is a
per-deployment policy (``FHIRBRIDGE_FIXED_CARE_CONTACTS_PER_PATIENT``,
``FHIRBRIDGE_FIXED_DOCTORS_PER_PATIENT``; default 1 each).

The rule spans every CareTeam of the patient on this server, so it runs as a write listener
inside the write transaction, after the CareTeams are stored: it takes an advisory lock per
patient (PostgreSQL; SQLite already serialises writers), then reads the patient's live
CareTeams, which include this transaction's own.  A second writer for the same patient waits
for the lock and then sees the first one's committed team, so concurrent appointments cannot
both succeed.  A violation is a 409 whose OperationOutcome names the current holder.

Only *new* assignments are judged (active now, not active in the version replaced), so an
edit of a team that was appointed under a laxer policy is not blocked by its old members.
Teams whose subject is not a local Patient reference cannot be related across teams and are
not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fhirbridge.contract.fixed_contacts import FIXED_CARE_CONTACT, Assignment, active_assignments, role_name
from fhirbridge.errors import FhirError, Issue
from fhirbridge.fhir.jsonio import loads
from fhirbridge.storage import store
from fhirbridge.storage.database import Connection
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

SUBJECT_PATH = "CareTeam.subject"


@dataclass(frozen=True)
class FixedContactPolicy:
    """How many distinct people may hold each fixed role for one patient at once."""

    care_contacts_per_patient: int = 1
    doctors_per_patient: int = 1

    def limit(self, role: str) -> int:
        return self.care_contacts_per_patient if role == FIXED_CARE_CONTACT else self.doctors_per_patient


class FixedContactRule:
    """A write listener enforcing :class:`FixedContactPolicy` across all of a patient's CareTeams."""

    def __init__(self, policy: FixedContactPolicy) -> None:
        self.policy = policy

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        conn = unit.conn
        new_by_patient: dict[str, list[Assignment]] = {}
        now = unit.now
        for event in events:
            if event.record.resource_type != "CareTeam" or event.record.content is None:
                continue
            team = loads(event.record.content)
            patient_id = _local_patient(team)
            if patient_id is None:
                continue
            new = _new_assignments(team, event, now)
            if new:
                new_by_patient.setdefault(patient_id, []).extend(new)
        issues: list[Issue] = []
        for patient_id in sorted(new_by_patient):  # one lock order, so two transactions cannot deadlock
            await conn.advisory_lock(f"fixed-contacts:Patient/{patient_id}")
            issues += await self._check_patient(conn, patient_id, new_by_patient[patient_id], now)
        if issues:
            raise FhirError(409, issues)

    async def _check_patient(self, conn: Connection, patient_id: str, new: list[Assignment], now: int) -> list[Issue]:
        teams = await store.live_referrers_by_path(conn, "Patient", patient_id, SUBJECT_PATH)
        current = [assignment for team in teams for assignment in active_assignments(loads(team.content or b"{}"), now)]
        issues = []
        for candidate in new:
            holders = _distinct_holders(current, candidate)
            if len(holders) >= self.policy.limit(candidate.role):
                issues.append(self._conflict(patient_id, candidate, holders))
        return issues

    def _conflict(self, patient_id: str, candidate: Assignment, holders: list[Assignment]) -> Issue:
        name = role_name(candidate.role)
        limit = self.policy.limit(candidate.role)
        named = "; ".join(holder.describe() for holder in holders)
        allowed = "one" if limit == 1 else str(limit)
        return Issue(
            "error",
            "conflict",
            f"Patient/{patient_id} already has an active {name}: {named}. This service allows {allowed} "
            f"{name} per patient; end the current assignment (participant.period.end) before appointing "
            f"{candidate.member_display}.",
            (f"CareTeam.participant[{candidate.participant_index}]",),
        )


def _local_patient(team: dict[str, Any]) -> str | None:
    reference = (team.get("subject") or {}).get("reference")
    if isinstance(reference, str) and reference.startswith("Patient/"):
        return reference.split("/")[1]
    return None


def _new_assignments(team: dict[str, Any], event: WriteEvent, now: int) -> list[Assignment]:
    before: set[tuple[str, str]] = set()
    if event.previous is not None and not event.previous.deleted and event.previous.content is not None:
        previous = loads(event.previous.content)
        if _local_patient(previous) == _local_patient(team):
            before = {(a.role, a.member_key) for a in active_assignments(previous, now)}
    return [a for a in active_assignments(team, now) if (a.role, a.member_key) not in before]


def _distinct_holders(current: list[Assignment], candidate: Assignment) -> list[Assignment]:
    """Other people holding the candidate's role, one assignment each."""
    holders: dict[str, Assignment] = {}
    for assignment in current:
        if assignment.role == candidate.role and assignment.member_key != candidate.member_key:
            holders.setdefault(assignment.member_key, assignment)
    return list(holders.values())

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
Whatever form the client named the patient in, the write path has made the team's subject a
literal ``Patient/[id]`` before this rule runs (:mod:`fhirbridge.writes.references`), or
refused it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fhirbridge.contract.fixed_contacts import FIXED_CARE_CONTACT, Assignment, assignments, member_key, role_name
from fhirbridge.errors import FhirError, Issue
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.storage import store
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork


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
        new_by_patient: dict[str, list[tuple[Assignment, str]]] = {}
        for event in events:
            team = event.resource
            if event.record.resource_type != "CareTeam" or team is None:
                continue
            patient_id = local_patient(team, unit.local_base)
            if patient_id is None:
                continue
            place = unit.locations.get(("CareTeam", event.record.resource_id), "CareTeam")
            for assignment in _new_assignments(team, event, unit):
                new_by_patient.setdefault(patient_id, []).append((assignment, place))
        issues: list[Issue] = []
        for patient_id in sorted(new_by_patient):  # one lock order, so two transactions cannot deadlock
            await unit.conn.advisory_lock(f"fixed-contacts:Patient/{patient_id}")
            issues += await self._check_patient(unit, patient_id, new_by_patient[patient_id])
        if issues:
            raise FhirError(409, issues)

    async def _check_patient(self, unit: UnitOfWork, patient_id: str, new: list[tuple[Assignment, str]]) -> list[Issue]:
        teams = await store.live_referrers_by_param(unit.conn, "CareTeam", "subject", "Patient", patient_id)
        held = [
            assignment
            for team in teams
            for assignment in assignments(loads(team.content or b"{}"), unit.local_base)
            if assignment.ends is None or assignment.ends > unit.now
        ]
        people = People(unit)
        issues = []
        for candidate, place in new:
            person = await people.of(candidate.member_key)
            others: dict[str, Assignment] = {}
            for assignment in held:
                if assignment.role != candidate.role or not assignment.overlaps(candidate):
                    continue
                key = await people.of(assignment.member_key)
                if key != person:
                    others.setdefault(key, assignment)
            if len(others) >= self.policy.limit(candidate.role):
                shown = {team.resource_id: await unit.caller_knows(team) for team in teams}
                issues.append(self._conflict(patient_id, candidate, list(others.values()), place, shown))
        return issues

    def _conflict(
        self, patient_id: str, candidate: Assignment, holders: list[Assignment], place: str, shown: dict[str, bool]
    ) -> Issue:
        name = role_name(candidate.role)
        limit = self.policy.limit(candidate.role)
        # A holder is named only to a caller who may see the team (a blocked unit's stays unnamed).
        named = "; ".join(
            holder.describe() if shown.get(str(holder.care_team_id), False) else "in a care team you may not see"
            for holder in holders
        )
        allowed = "one" if limit == 1 else str(limit)
        return Issue(
            "error",
            "conflict",
            f"Patient/{patient_id} already has a {name} at that time: {named}. This service allows {allowed} "
            f"{name} per patient; end the current assignment (participant.period.end) before appointing "
            f"{candidate.member_display}.",
            (f"{place}.participant[{candidate.participant_index}]",),
        )


class People:
    """Member keys (:func:`~fhirbridge.contract.fixed_contacts.member_key`) as people, as this
    transaction sees them: a PractitionerRole is the Practitioner it is a role of."""

    def __init__(self, unit: UnitOfWork) -> None:
        self.unit = unit
        self.known: dict[str, str] = {}

    async def of(self, key: str) -> str:
        if key not in self.known:
            person = key
            if key.startswith("PractitionerRole/"):
                role = await self.unit.read("PractitionerRole", key.split("/", 1)[1])
                if role is not None and role.content is not None:
                    practitioner = member_key(loads(role.content).get("practitioner") or {}, self.unit.local_base)
                    person = practitioner or key
            self.known[key] = person
        return self.known[key]


def local_patient(resource: dict[str, Any], local_base: str | None) -> str | None:
    """The id of the local Patient a resource's ``subject`` refers to (any local form)."""
    reference = (resource.get("subject") or {}).get("reference")
    parsed = parse_reference(reference, local_base) if isinstance(reference, str) else None
    if parsed is not None and parsed.kind == "local" and parsed.resource_type == "Patient":
        return parsed.resource_id
    return None


def _new_assignments(team: dict[str, Any], event: WriteEvent, unit: UnitOfWork) -> list[Assignment]:
    """Assignments this version adds that still matter (not already ended)."""
    before: set[tuple[str, str, str | None, str | None]] = set()
    previous = event.previous
    if previous is not None and not previous.deleted and previous.content is not None:
        old = loads(previous.content)
        if local_patient(old, unit.local_base) == local_patient(team, unit.local_base):
            before = {(a.role, a.member_key, a.start, a.end) for a in assignments(old, unit.local_base)}
    return [
        a
        for a in assignments(team, unit.local_base)
        if (a.role, a.member_key, a.start, a.end) not in before and (a.ends is None or a.ends > unit.now)
    ]

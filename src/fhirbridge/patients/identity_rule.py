"""One person, one Patient: the write rule that records who holds each number.

A write listener (it runs inside the write transaction, before commit, like the fixed-contact
rule).  For every Patient the unit wrote it compares the numbers held before and after
(:func:`~fhirbridge.patients.identity.held_numbers`); when they differ it lets go of the old
ones and claims the new ones in ``patient_identities``, whose unique key settles concurrent
claims in the database.  A number another Patient holds is a 409 naming that Patient (when the
caller may see it), never a retry and never a second Patient: with ``If-None-Exist`` the
existing Patient is found before anything is written, as before.

It also applies the link rules of :mod:`.links`: replaced Patients stay replaced, and nothing
new is filed under them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fhirbridge.errors import FhirError, Issue
from fhirbridge.fhir.jsonio import loads
from fhirbridge.patients.identity import IdentitySystems, PersonNumber, held_numbers
from fhirbridge.patients.links import link_issues, replaced_reference_issues, where
from fhirbridge.storage import identities
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

Content = dict[str, Any] | None


class OnePatientPerPerson:
    """A write listener keeping ``patient_identities`` and the Patient links right."""

    def __init__(self, systems: IdentitySystems) -> None:
        self.systems = systems

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        changes = _patient_changes(events)
        issues = await link_issues(unit, changes) if changes else []
        issues += await replaced_reference_issues(unit, events)
        if issues:
            raise FhirError(422, issues)
        conflicts = await self._claim(unit, changes)
        if conflicts:
            raise FhirError(409, conflicts)

    async def _claim(self, unit: UnitOfWork, changes: dict[str, tuple[Content, Content]]) -> list[Issue]:
        claims: list[tuple[PersonNumber, str]] = []
        released = []
        for patient_id, (before, after) in changes.items():
            now = held_numbers(after, self.systems)
            if {n[:2] for n in now} != {n[:2] for n in held_numbers(before, self.systems)}:
                released.append(patient_id)
                claims += [(number, patient_id) for number in now]
        await identities.release(unit.conn, released)
        issues = []
        for number, patient_id in sorted(claims):  # one order, so that two claimers cannot deadlock
            holder = await identities.claim(unit.conn, number.system, number.value, patient_id)
            if holder == patient_id:
                continue
            if await self._still_holds(unit, holder, number):
                issues.append(await self._conflict(unit, number, patient_id, holder))
            else:  # a row left by a write that bypassed this rule (a bulk load, a link made by hand)
                await identities.reassign(unit.conn, number.system, number.value, patient_id)
        return issues

    async def _still_holds(self, unit: UnitOfWork, holder: str, number: PersonNumber) -> bool:
        record = await unit.read("Patient", holder)
        patient = loads(record.content) if record is not None and record.content is not None else None
        return any(n[:2] == number[:2] for n in held_numbers(patient, self.systems))

    async def _conflict(self, unit: UnitOfWork, number: PersonNumber, patient_id: str, holder: str) -> Issue:
        name = self.systems.name(number.system)
        held_by = f"Patient/{holder}"
        if not unit.identity.unrestricted and unit.sees is not None:
            record = await unit.read("Patient", holder)
            if record is None or not await unit.sees(unit, record):
                held_by = "another Patient (one you may not see)"
        return Issue(
            "error",
            "duplicate",
            f"{held_by} already holds {name} {number.value}: one person is one Patient. Update that Patient, "
            f"or create with If-None-Exist: identifier={number.system}|{number.value} to get it; if both "
            "records are this person, link them with POST Patient/$merge",
            (where(unit, "Patient", patient_id, f"Patient.identifier[{number.position}]"),),
        )


def _patient_changes(events: Sequence[WriteEvent]) -> dict[str, tuple[Content, Content]]:
    """Each Patient the unit wrote: its content before the unit's first change and after its last."""
    changes: dict[str, tuple[Content, Content]] = {}
    for event in events:
        if event.record.resource_type != "Patient":
            continue
        patient_id = event.record.resource_id
        if patient_id in changes:
            before = changes[patient_id][0]
        else:
            previous = event.previous
            before = loads(previous.content) if previous is not None and previous.content is not None else None
        changes[patient_id] = (before, event.resource)
    return changes

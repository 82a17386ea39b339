"""Raising the access epochs (:mod:`fhirbridge.storage.epochs`) with every write that can change
who may see a patient's data, in the write's own transaction: a consent or block, a care team or
plan (the care relation, whose information a plan is), a Patient (a merge), an emergency grant;
and the directory's epoch with every Organization, PractitionerRole or Practitioner.

The access policy (:mod:`fhirbridge.access.policy`) keeps what it read about a patient only while
these epochs stay where they were when it read them, so a consent withdrawn on one instance
applies at once on every instance sharing the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fhirbridge.access.compartment import UNKNOWN_PATIENT, patients_of
from fhirbridge.access.grants import is_emergency_grant
from fhirbridge.fhir.jsonio import loads
from fhirbridge.storage.epochs import DIRECTORY, patient_scope, raise_epochs
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

PATIENT_FACTS = frozenset({"Consent", "CareTeam", "CarePlan", "Patient"})
"""What the access policy reads about a patient (:func:`fhirbridge.access.facts.load_facts`)."""
DIRECTORY_TYPES = frozenset({"Organization", "PractitionerRole", "Practitioner"})


def changed_scopes(events: Sequence[WriteEvent]) -> set[str]:
    """The epochs a unit's changes raise."""
    scopes: set[str] = set()
    for event in events:
        resource_type = event.record.resource_type
        if resource_type in DIRECTORY_TYPES:
            scopes.add(DIRECTORY)
            continue
        if resource_type not in PATIENT_FACTS and not (
            resource_type == "AuditEvent" and is_emergency_grant(event.resource)
        ):
            continue
        previous = event.previous
        versions = [event.resource, loads(previous.content) if previous is not None and previous.content else None]
        for content in versions:
            if content is not None:
                scopes |= {patient_scope(p) for p in patients_of(resource_type, content) or () if p != UNKNOWN_PATIENT}
    return scopes


class AccessEpochs:
    """A write listener: raises the epochs of what the unit changed (runs last, after the rules)."""

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        scopes = changed_scopes(events)
        if scopes:
            await raise_epochs(unit.conn, scopes)

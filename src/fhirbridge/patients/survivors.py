"""One person, however many Patients they once were: from a Patient to the one that stands for
them now, by its ``replaced-by`` links (R4 patient.html#links), and back by ``replaces``.

The access policy, NPÖ, the overview and ``$fixed-contacts`` ask here, so that after a merge
(:mod:`.merge`) a patient's token, a clinician's care relation, a national lookup by the old
reserve number and the overview's address all reach the same person's records.  Reads go
through the repository as the server itself (a caller's own access is judged afterwards, on the
records they reach).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhirbridge.fhir.jsonio import loads
from fhirbridge.identity import SYSTEM
from fhirbridge.patients.identity import replaced_by, replaces

if TYPE_CHECKING:
    from fhirbridge.reads import Reads

MOST_LINKS = 16
"""How far a chain of merges is followed (a merge refuses a target that is itself replaced,
so chains stay short)."""


async def _patient(repository: Reads, patient_id: str) -> dict[str, Any] | None:
    record = await repository.read(SYSTEM, "Patient", patient_id)
    if record is None or record.content is None:
        return None
    patient: dict[str, Any] = loads(record.content)
    return patient


async def surviving_patient(repository: Reads, patient_id: str) -> str:
    """The id of the Patient that stands for this person now (``patient_id`` itself unless it
    was replaced)."""
    current = patient_id
    for _ in range(MOST_LINKS):
        patient = await _patient(repository, current)
        successor = replaced_by(patient) if patient is not None else None
        if successor is None or successor == current:
            return current
        current = successor
    return current


async def person_ids(repository: Reads, patient_id: str) -> frozenset[str]:
    """Every Patient id of this person: the surviving one and all it (transitively) replaces."""
    survivor = await surviving_patient(repository, patient_id)
    found, pending = {survivor}, [survivor]
    while pending and len(found) < MOST_LINKS:
        patient = await _patient(repository, pending.pop())
        for other in replaces(patient) if patient is not None else []:
            if other not in found:
                found.add(other)
                pending.append(other)
    return frozenset(found)

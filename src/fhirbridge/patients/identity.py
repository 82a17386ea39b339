"""Who a Patient is: the numbers that name one person, and the links between merged records.

In Swedish care a person *is* their personnummer (or samordningsnummer, or, until they are
identified, a reserve number), so two Patients must never hold the same one.  The numbers that
count (:class:`IdentitySystems`):

* personnummer and samordningsnummer (Skatteverket), and the national reserve number (Inera's
  NRID), the systems of the HL7 Sweden base profiles;
* regional reserve-number systems a deployment declares (``FHIRBRIDGE_RESERVE_NUMBER_SYSTEMS``,
  such as Region Stockholm's ``urn:oid:1.2.752.97.3.1.3``): a reserve number is unique within
  the system that issued it, which is what a (system, value) pair says.

Every identifier of these systems counts, whatever its ``use`` or ``period``: a number names one
person even after it is superseded.  Only Patients that stand for a person now hold their
numbers: not ``active: false`` ones, and not those a merge replaced (``Patient.link`` of type
``replaced-by``, R4 patient.html#links).

This module is pure: the write rule (:mod:`.identity_rule`), the merge (:mod:`.merge`), ``fhirbridge
db check`` and the migration that adds the unique index all judge with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from fhirbridge.fhir.references import parse_reference
from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM, RESERVNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM

REPLACED_BY = "replaced-by"
REPLACES = "replaces"
RANK = {PERSONNUMMER_SYSTEM: 0, SAMORDNINGSNUMMER_SYSTEM: 1, RESERVNUMMER_SYSTEM: 2}
"""How well a number identifies a person: a personnummer before a samordningsnummer before a
reserve number (an unranked system, a regional reserve number, comes last)."""
_NAMES = {
    PERSONNUMMER_SYSTEM: "personnummer",
    SAMORDNINGSNUMMER_SYSTEM: "samordningsnummer",
    RESERVNUMMER_SYSTEM: "national reserve number",
}


class PersonNumber(NamedTuple):
    """One identity a Patient holds, and where (``Patient.identifier[position]``)."""

    system: str
    value: str
    position: int


@dataclass(frozen=True)
class IdentitySystems:
    """The identifier systems whose values name one person, and so one Patient."""

    regional_reserve: frozenset[str] = frozenset()

    @property
    def all(self) -> frozenset[str]:
        return frozenset(RANK) | self.regional_reserve

    def name(self, system: str) -> str:
        """``personnummer``, ``samordningsnummer``, ``national reserve number`` or ``reserve number (system)``."""
        return _NAMES.get(system) or f"reserve number ({system})"


def person_numbers(patient: dict[str, Any], systems: IdentitySystems) -> list[PersonNumber]:
    """Every identifier of an identity system the Patient carries, in its order."""
    known = systems.all
    found = []
    for index, identifier in enumerate(patient.get("identifier") or []):
        if not isinstance(identifier, dict):
            continue
        system, value = identifier.get("system"), identifier.get("value")
        if system in known and isinstance(value, str) and value:
            found.append(PersonNumber(system, value, index))
    return found


def held_numbers(patient: dict[str, Any] | None, systems: IdentitySystems) -> list[PersonNumber]:
    """The numbers a Patient holds now: none when it is deleted, inactive or replaced."""
    if patient is None or patient.get("active") is False or replaced_by(patient) is not None:
        return []
    return person_numbers(patient, systems)


def local_patient_id(reference: Any, local_base: str | None) -> str | None:
    """The id of the Patient on this server a plain (unversioned) reference names, if it does."""
    parsed = parse_reference(reference, local_base) if isinstance(reference, str) else None
    if parsed is None or parsed.kind != "local" or parsed.resource_type != "Patient" or parsed.version is not None:
        return None
    return parsed.resource_id


def _linked(patient: dict[str, Any], link_type: str, local_base: str | None) -> list[str]:
    ids = []
    for link in patient.get("link") or []:
        if isinstance(link, dict) and link.get("type") == link_type:
            patient_id = local_patient_id((link.get("other") or {}).get("reference"), local_base)
            if patient_id:
                ids.append(patient_id)
    return ids


def replaced_by(patient: dict[str, Any], local_base: str | None = None) -> str | None:
    """The id of the Patient that replaces this one (its ``replaced-by`` link), if any."""
    found = _linked(patient, REPLACED_BY, local_base)
    return found[0] if found else None


def replaces(patient: dict[str, Any], local_base: str | None = None) -> list[str]:
    """The ids of the Patients this one replaces (its ``replaces`` links)."""
    return _linked(patient, REPLACES, local_base)


@dataclass(frozen=True)
class SharedNumber:
    """One number held by several Patients: what ``fhirbridge db check`` lists, and what keeps
    the migration that adds the unique index from running."""

    system: str
    value: str
    patient_ids: tuple[str, ...]

    def describe(self, systems: IdentitySystems) -> str:
        held = ", ".join(f"Patient/{patient_id}" for patient_id in self.patient_ids)
        return f"{systems.name(self.system)} {self.value}: {held}"


def shared_numbers(patients: Iterable[tuple[str, dict[str, Any]]], systems: IdentitySystems) -> list[SharedNumber]:
    """The numbers that more than one of ``patients`` (id, content) holds, in a stable order."""
    holders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for patient_id, patient in patients:
        for number in held_numbers(patient, systems):
            holders[(number.system, number.value)].add(patient_id)
    return [
        SharedNumber(system, value, tuple(sorted(ids)))
        for (system, value), ids in sorted(holders.items())
        if len(ids) > 1
    ]

"""Records that belong to a care unit rather than to a patient: a staff member's answers to the
seven questions about their unit ("Vet ni om era patienter …", seed 003) and a summary
MeasureReport of a unit's follow-up (R4 measurereport.html, ``type`` summary).

They hold no patient's data, so the Patient Data Act's care relation does not apply; but they
are the unit's own, so the R4 rule for resources outside the patient compartment ("the scope
is enough") would open one unit's answers and figures to every other unit and to patients.
Instead (docs/security.md, rule 10): the region's services read and write them all; a user or
a unit's system those of its own unit or of a unit below it; patients and relatives none.  A
record of this kind that names no unit is the region's (services only: fail closed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhirbridge.access.facts import answered_for, caller_units
from fhirbridge.fhir.references import parse_reference, referenced_type
from fhirbridge.identity import SYSTEM, Identity

if TYPE_CHECKING:
    from fhirbridge.reads import Reads


UNKNOWN_UNIT = "-unknown-unit-"
"""A unit named in a form that cannot be placed: the record is the region's (services only)."""


def owning_units(resource_type: str, resource: dict[str, Any]) -> frozenset[str] | None:
    """The units (``Organization/id``) a unit's record belongs to, or None when the record is
    not a unit's: a QuestionnaireResponse whose ``subject`` is an Organization (staff answering
    for their unit) is that unit's and that of every unit its ``answered-for-unit`` names; a
    MeasureReport without a subject is its ``reporter``'s.  Empty when it names no unit (the
    region's); :data:`UNKNOWN_UNIT` among them for a unit not named by a local reference.  A
    patient's answers (subject a Patient) and a patient's MeasureReport are the patient's."""
    if resource_type == "QuestionnaireResponse":
        subject = resource.get("subject")
        if subject is not None and referenced_type(subject) not in ("Organization", None):
            return None
        named = [subject] if subject is not None else []
        named += [reference for _, reference in answered_for(resource)]
        return frozenset(_organization(reference) or UNKNOWN_UNIT for reference in named)
    if resource_type == "MeasureReport":
        if resource.get("subject") is not None:
            return None
        reporter = resource.get("reporter")
        return frozenset({_organization(reporter) or UNKNOWN_UNIT}) if reporter is not None else frozenset()
    return None


def unplaced_units(resource_type: str, resource: dict[str, Any]) -> list[str]:
    """The ``answered-for-unit`` extensions (their paths) that do not name an Organization on
    this server after the write path's normalisation (a display text only, an HSA-id the
    directory does not hold, another server's address): a block could not judge whose
    answers they are (eleventh review), so the write is refused."""
    if resource_type != "QuestionnaireResponse":
        return []
    return [
        f"QuestionnaireResponse.extension[{index}].valueReference"
        for index, reference in answered_for(resource)
        if _organization(reference) is None
    ]


async def may_reach_units(repository: Reads, identity: Identity, units: frozenset[str]) -> bool:
    """Whether the caller may read or write a record of ``units``: a service always; a user or a
    unit's system when each of them is its own unit or lies below it (the directory's
    ``partOf``); nobody else, and nobody but a service when the record names no unit or one
    that cannot be placed."""
    if identity.unrestricted or (identity.kind == "system" and identity.on_behalf_of is None):
        return True
    if identity.kind not in ("user", "system") or identity.on_behalf_of is None or not units:
        return False
    lines: dict[str, frozenset[str]] = identity.decisions.setdefault("unit-lines", {})
    for unit in sorted(units):
        if unit == UNKNOWN_UNIT:
            return False
        if unit not in lines:  # a unit and those above it: looked up once per request (a search judges many)
            lines[unit] = frozenset(await caller_units(repository, SYSTEM, unit))
        if identity.on_behalf_of not in lines[unit]:
            return False
    return True


def _organization(reference: Any) -> str | None:
    text = reference.get("reference") if isinstance(reference, dict) else None
    parsed = parse_reference(text) if isinstance(text, str) else None
    if parsed is None or parsed.kind != "local" or parsed.resource_type != "Organization" or not parsed.resource_id:
        return None
    return f"Organization/{parsed.resource_id}"

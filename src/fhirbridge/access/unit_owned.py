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

from fhirbridge.access.facts import caller_units
from fhirbridge.contract.codes import ANSWERED_FOR_UNIT_EXTENSION
from fhirbridge.fhir.references import parse_reference
from fhirbridge.identity import SYSTEM, Identity

if TYPE_CHECKING:
    from fhirbridge.reads import Reads

UNIT_OWNED_TYPES = frozenset({"QuestionnaireResponse", "MeasureReport"})
"""Types whose records about no patient belong to a unit (those about a patient are the
patient's, in the Patient compartment)."""


def owning_unit(resource_type: str, resource: dict[str, Any]) -> str | None:
    """The unit (``Organization/id``) a record about no patient belongs to, or None when it
    names none: a QuestionnaireResponse's ``subject`` when it is an Organization (staff answering
    for their unit), else its ``answered-for-unit`` extension; a MeasureReport's ``reporter``."""
    if resource_type == "QuestionnaireResponse":
        unit = _organization(resource.get("subject"))
        if unit is None:
            for extension in _list(resource.get("extension")):
                if isinstance(extension, dict) and extension.get("url") == ANSWERED_FOR_UNIT_EXTENSION:
                    unit = _organization(extension.get("valueReference"))
        return unit
    if resource_type == "MeasureReport":
        return _organization(resource.get("reporter"))
    return None


async def may_reach_unit(repository: Reads, identity: Identity, unit: str | None) -> bool:
    """Whether the caller may read or write a record of ``unit``: a service always; a user or a
    unit's system when ``unit`` is its own unit or lies below it (the directory's ``partOf``);
    nobody else, and nobody but a service when the record names no unit."""
    if identity.unrestricted or (identity.kind == "system" and identity.on_behalf_of is None):
        return True
    if identity.kind not in ("user", "system") or unit is None or identity.on_behalf_of is None:
        return False
    return identity.on_behalf_of in await caller_units(repository, SYSTEM, unit)


def _organization(reference: Any) -> str | None:
    text = reference.get("reference") if isinstance(reference, dict) else None
    parsed = parse_reference(text) if isinstance(text, str) else None
    if parsed is None or parsed.kind != "local" or parsed.resource_type != "Organization" or not parsed.resource_id:
        return None
    return f"Organization/{parsed.resource_id}"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []

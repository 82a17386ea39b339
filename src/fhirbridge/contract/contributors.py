"""A contract's ``contributor`` list follows the units that revised it (issue 4; seed 001).

The contract is revised by each caregiver in turn (hospital, primary care, municipality).
Inera's draft mapping of GetCarePlans puts the participating care units in
``CarePlan.contributor`` (DOMAIN.md), so when a unit writes a contract the server adds that
unit, as a reference to its Organization, unless it is already listed.  The unit is the one
the writer acts for: ``onBehalfOf`` of the ``X-Provenance`` agent until authentication exists.

Only contract CarePlans (category ``patientkontrakt``) are touched: other plans keep exactly
what their systems send.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from fhirbridge.contract.codes import is_contract
from fhirbridge.fhir.references import parse_reference
from fhirbridge.validation.json_form import FoundReference
from fhirbridge.validation.pipeline import ValidatedResource

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork


async def add_revising_unit(unit: UnitOfWork, validated: ValidatedResource) -> ValidatedResource:
    """The contract with the writer's unit among its contributors (a write enricher)."""
    revising = unit.identity.on_behalf_of
    resource = validated.resource
    if validated.resource_type != "CarePlan" or not revising or not revising.startswith("Organization/"):
        return validated
    if not is_contract(resource):
        return validated
    contributors = resource.get("contributor", [])
    if any(isinstance(c, dict) and c.get("reference") == revising for c in contributors):
        return validated
    parsed = parse_reference(revising)
    if parsed is None:
        return validated
    enriched = copy.copy(resource)
    enriched["contributor"] = [*contributors, {"reference": revising}]
    found = FoundReference(f"CarePlan.contributor[{len(contributors)}]", parsed, ("Organization",))
    return ValidatedResource("CarePlan", enriched, (*validated.references, found), validated.sites)

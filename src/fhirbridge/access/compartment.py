"""Whose data a resource is: its patients by the R4 Patient compartment
(compartmentdefinition-patient.html), read with the same compiled expressions as search.

A reference of type Patient counts whether it is relative or absolute: over-counting can only
hide more.  A Provenance belongs to the patients of its targets, which is looked up by the
policy (the compartment definition only knows a Provenance whose target is the Patient).
"""

from __future__ import annotations

from typing import Any

from fhirbridge.fhir.definitions import definitions
from fhirbridge.fhir.references import parse_reference
from fhirbridge.search.parameters import search_parameters


def compartment_types() -> frozenset[str]:
    """Resource types that can belong to a patient."""
    members = definitions().compartments["patient"]
    return frozenset(name for name, params in members.items() if params)


def patients_of(resource_type: str, resource: dict[str, Any]) -> frozenset[str] | None:
    """The ids of the patients whose compartment holds ``resource``; None for a type outside
    the compartment (Practitioner, Organization, …)."""
    if resource_type == "Patient":
        return frozenset({str(resource.get("id"))})
    params = definitions().compartments["patient"].get(resource_type)
    if not params:
        return None
    found: set[str] = set()
    by_code = search_parameters(resource_type)
    for code in params:
        param = by_code.get(code)
        if param is None:
            continue
        for node in param.evaluate(resource):
            patient = _patient_id(node)
            if patient is not None:
                found.add(patient)
    return frozenset(found)


def _patient_id(node: Any) -> str | None:
    if not isinstance(node, dict) or not isinstance(node.get("reference"), str):
        return None
    parsed = parse_reference(node["reference"])
    if parsed is None or parsed.resource_type != "Patient" or not parsed.resource_id:
        return None
    return parsed.resource_id


def compartment_search_parameter(resource_type: str) -> str | None:
    """The one search parameter that restricts a search of this type to one patient's
    compartment (``CarePlan?patient=…``), used to keep a patient's searches to their own data."""
    params = definitions().compartments["patient"].get(resource_type) or []
    for preferred in ("patient", "subject", "link"):
        if preferred in params:
            return preferred
    return params[0] if params else None

"""Whose data a resource is: its patients by the R4 Patient compartment
(compartmentdefinition-patient.html), read from every patient link
(:mod:`fhirbridge.patients.link_elements`) and from the resources it contains.

The write path stores every patient reference as a literal ``Patient/[id]``
(:mod:`fhirbridge.writes.references`).  A patient link in any other form (data written before
that rule, or loaded around it) may name a patient nobody can tell: it counts as
:data:`UNKNOWN_PATIENT`, whom no patient, relative or care unit reaches, so that the resource is
hidden from all but the region's own services until ``fhirbridge db repair`` resolves it.
A Provenance belongs to the patients of its targets, which the policy looks up.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhirbridge.fhir.definitions import definitions
from fhirbridge.fhir.references import parse_reference
from fhirbridge.patients.link_elements import (
    DIRECTORY_SYSTEMS,
    PATIENT_IDENTITY_SYSTEMS,
    SUBJECT_LINKS,
    patient_links,
)

UNKNOWN_PATIENT = "-unknown-"
"""A patient named in a form that cannot be placed: hidden from all but services."""
SERVER_WRITTEN = frozenset({"AuditEvent"})
"""Types only the server writes (clients get 405): their patients are their literal references,
and a client application named by identifier among their agents is no patient."""


@cache
def compartment_types() -> frozenset[str]:
    """Resource types that can belong to a patient."""
    members = definitions().compartments["patient"]
    return frozenset(name for name, params in members.items() if params)


def patients_of(resource_type: str, resource: dict[str, Any]) -> frozenset[str] | None:
    """The ids of the patients whose compartment holds ``resource`` (with :data:`UNKNOWN_PATIENT`
    for a patient link that cannot be placed); None for a type outside the compartment
    (Practitioner, Organization, …) that contains nothing of a patient's."""
    if resource_type == "Patient":
        return frozenset({str(resource.get("id"))})
    found: set[str] = set()
    literal_only = resource_type in SERVER_WRITTEN
    contained = resource.get("contained")
    contained = contained if isinstance(contained, list) else []
    inside = frozenset(str(item.get("id")) for item in contained if isinstance(item, dict))
    for link in patient_links(resource_type):
        subject = link.path in SUBJECT_LINKS
        for node in link.evaluate(resource):
            named = named_patients(node, subject=subject, contained=inside)
            found |= named - {UNKNOWN_PATIENT} if literal_only else named
    for item in contained:
        if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
            continue
        if item["resourceType"] == "Patient":
            found.add(UNKNOWN_PATIENT)  # a contained Patient has no record of its own
        else:
            found |= patients_of(item["resourceType"], item) or frozenset()
    if not found and resource_type not in compartment_types():
        return None
    return frozenset(found)


def named_patients(node: Any, *, subject: bool, contained: frozenset[str] = frozenset()) -> set[str]:
    """The patient one Reference on a patient link names: ``{id}`` for ``Patient/id``,
    :data:`UNKNOWN_PATIENT` for a form that may name a patient but cannot be placed (one that
    does not even parse included), nothing for a reference to something else.  ``subject``: the
    element says whom the resource is about; ``contained``: the ids of the contained resources."""
    if not isinstance(node, dict):
        return set()
    declared = node.get("type")
    may_be_patient = declared in (None, "Patient")
    text = node.get("reference")
    if isinstance(text, str):
        parsed = parse_reference(text)
        if parsed is None:
            return {UNKNOWN_PATIENT} if may_be_patient else set()
        if parsed.kind == "contained":
            return set() if parsed.resource_id in contained else {UNKNOWN_PATIENT}
        if parsed.kind == "local":
            return {parsed.resource_id} if parsed.resource_type == "Patient" and parsed.resource_id else set()
        if parsed.resource_type == "Patient" or (parsed.resource_type is None and may_be_patient):
            return {UNKNOWN_PATIENT}  # another server's, or this one's by a form the write path would have made local
        return set()
    identifier = node.get("identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
        system = identifier.get("system")
        if declared == "Patient" or (declared is None and system not in DIRECTORY_SYSTEMS):
            return {UNKNOWN_PATIENT}
        if system in PATIENT_IDENTITY_SYSTEMS and declared not in ("Practitioner", "RelatedPerson"):
            return {UNKNOWN_PATIENT}
        return set()
    if declared == "Patient" or (declared is None and subject):
        return {UNKNOWN_PATIENT}
    return set()


def compartment_search_parameter(resource_type: str) -> str | None:
    """The one search parameter that restricts a search of this type to one patient's
    compartment (``CarePlan?patient=…``), used to keep a patient's searches to their own data."""
    params = definitions().compartments["patient"].get(resource_type) or []
    for preferred in ("patient", "subject", "link"):
        if preferred in params:
            return preferred
    return params[0] if params else None

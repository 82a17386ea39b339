"""What a search may not ask when a caller's access is restricted (any access token): it would
test resources the caller may not see, and its answer (a match, a notification) would tell of
them.  The access policy refuses such searches, and such Subscription criteria."""

from __future__ import annotations

from fhirbridge.access.compartment import compartment_types
from fhirbridge.patients.link_elements import is_patient_reference_parameter
from fhirbridge.search.query import Clause, SearchQuery


def search_refusal(query: SearchQuery) -> str | None:
    """Why a restricted caller may not run ``query``; None when they may."""
    if any(_reverse_chained(clause) for clause in query.clauses):
        return "_has is not available with an access token: it would search data the caller may not see"
    for clause in query.clauses:
        hidden_hop = _hidden_hop(clause)
        if hidden_hop is not None:
            return (
                f"The chained search through {hidden_hop} is not available with an access token: it would "
                "test resources the caller may not see. Chain to a Patient through its patient link "
                "(subject:Patient.identifier=…) or to the directory (Practitioner, Organization)"
            )
    return None


def _hidden_hop(clause: Clause) -> str | None:
    """The first link of a chain that could reach a resource its searcher may not see (whose
    match the chain would still test): any link to patient data, except the link by which a
    resource names its own patient (``CarePlan?subject:Patient.identifier``), whose Patient is
    seen with it."""
    current: Clause | None = clause
    while current is not None and current.chained is not None:
        parameter = current.parameter
        source = parameter.resource_type if parameter is not None else ""
        own_patient = parameter is not None and is_patient_reference_parameter(parameter)
        for target in current.target_types:
            if target in compartment_types() and not (target == "Patient" and own_patient):
                return f"{source}.{current.code} to {target}"
        current = current.chained
    return None


def _reverse_chained(clause: Clause) -> bool:
    """Whether a clause is, or chains into, a ``_has`` (which matches on the referring resources)."""
    current: Clause | None = clause
    while current is not None:
        if current.has_type is not None:
            return True
        current = current.chained
    return False

"""The elements through which a resource names a patient, and those the care network is built from.

A *patient link* is an element that puts a resource in the Patient compartment (R4
compartmentdefinition-patient.html): the elements behind the compartment's search parameters
(``CarePlan.subject``, ``CareTeam.participant.member``, ``Appointment.participant.actor``, …),
taken *without* their ``where(resolve() is Patient)`` filter, because a reference that does not
say what it points at may still name a patient.  A *network link* is an element the care
relation is read from (:mod:`fhirbridge.access.facts`): care team members, authors and
contributors, managing and parent organizations, consent actors; or one that tells whose
information a resource is, for blocks (who expressed a goal, who answered or recorded, which
unit reports), so that a logical reference by HSA-id is resolved there too (ninth review).

Both tables are used by the write path, which makes every such reference literal
(:mod:`fhirbridge.writes.references`), and by the access policy, which fails closed on a stored
reference that is not (:mod:`fhirbridge.access.compartment`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from fhirbridge.fhir.definitions import definitions
from fhirbridge.search.fhirpath import Evaluator, compile_expression, split_top_level
from fhirbridge.search.parameters import SearchParameter, search_parameters
from fhirbridge.sweden.identifiers import (
    HSA_SYSTEM,
    PERSONNUMMER_SYSTEM,
    RESERVNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
)

PATIENT_IDENTITY_SYSTEMS = frozenset({PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM, RESERVNUMMER_SYSTEM})
"""Identifier systems that only ever identify a person as a patient."""
DIRECTORY_SYSTEMS = frozenset({HSA_SYSTEM})
"""Identifier systems of people and units in care (HSA): never a patient."""

SUBJECT_LINKS = frozenset(
    {
        "CarePlan.subject",
        "CareTeam.subject",
        "Goal.subject",
        "RelatedPerson.patient",
        "Consent.patient",
        "Communication.subject",
        "Provenance.target",
    }
)
"""Patient links that say whom the resource is about: one that names nobody in particular (a
display text without a type) would leave the resource outside every compartment."""

NETWORK_LINKS = frozenset(
    {
        "CareTeam.participant.member",
        "CareTeam.participant.onBehalfOf",
        "CareTeam.managingOrganization",
        "CarePlan.author",
        "CarePlan.contributor",
        "CarePlan.careTeam",
        "Organization.partOf",
        "PractitionerRole.practitioner",
        "PractitionerRole.organization",
        "Consent.provision.actor.reference",
        "Communication.sender",
        "Goal.expressedBy",
        "QuestionnaireResponse.author",
        "QuestionnaireResponse.extension.valueReference",
        "Condition.recorder",
        "Condition.asserter",
        "MeasureReport.reporter",
    }
)

_WHERE = re.compile(r"\.where\([^()]*(?:\([^()]*\)[^()]*)*\)")


@dataclass(frozen=True)
class LinkElement:
    """One patient link of a resource type."""

    path: str
    """The element, from the resource type, without indices: ``CarePlan.activity.detail.performer``."""
    evaluate: Evaluator
    """The Reference objects at that element of a resource."""


def element_paths(expression: str) -> list[str]:
    """The element paths of a search parameter's expression, without ``where(…)`` filters."""
    return [_WHERE.sub("", part.strip()).strip().strip("()").strip() for part in split_top_level(expression, "|")]


def is_patient_reference_parameter(parameter: SearchParameter) -> bool:
    """Whether a reference search parameter reads only patient links of its type (``CarePlan``'s
    ``subject`` or ``patient``): what it leads to is the resource's own patient."""
    links = patient_link_paths(parameter.resource_type)
    return bool(links) and all(path in links for path in element_paths(parameter.expression))


@cache
def patient_links(resource_type: str) -> tuple[LinkElement, ...]:
    """The patient links of a type (empty for types outside the compartment, and for Patient,
    which is its own compartment)."""
    if resource_type == "Patient":
        return ()
    codes = definitions().compartments["patient"].get(resource_type) or []
    by_code = search_parameters(resource_type)
    paths: list[str] = []
    for code in codes:
        param = by_code.get(code)
        if param is None:
            continue
        for path in element_paths(param.expression):
            if path not in paths:
                paths.append(path)
    return tuple(LinkElement(path, compile_expression(path, resource_type)) for path in paths)


def is_network_link(element: str) -> bool:
    """Whether an element is one the care relation is read from (a consent's nested
    provisions count as its provision)."""
    return re.sub(r"(\.provision)+", ".provision", element) in NETWORK_LINKS


@cache
def patient_link_paths(resource_type: str) -> frozenset[str]:
    return frozenset(link.path for link in patient_links(resource_type))


def element_path(path: str) -> str:
    """A FHIRPath with its indices taken out: ``CarePlan.activity[0].detail.performer[1]`` →
    ``CarePlan.activity.detail.performer``."""
    return re.sub(r"\[\d+\]", "", path)

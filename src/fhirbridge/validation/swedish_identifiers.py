"""Swedish identifiers in a resource are real ones (issue 4; HL7 Sweden base profiles).

Every Identifier of a Swedish system, wherever it sits (``Patient.identifier``,
``CarePlan.subject.identifier``, a contained Practitioner's HSA-id), is checked with
:func:`fhirbridge.sweden.identifiers.identifier_problem`.  An Identifier is recognised by its
``system``: only the personnummer, samordningsnummer, national reserve number and HSA-id
systems are checked, so identifiers of other systems pass untouched.  A wrong one breaks a
business rule rather than the FHIR grammar, hence 422 (R4 http.html#update: "violated
applicable FHIR profiles or server business rules").
"""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import Issue, error
from fhirbridge.sweden.identifiers import (
    HSA_SYSTEM,
    PERSONNUMMER_SYSTEM,
    RESERVNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
    identifier_problem,
)

CHECKED_SYSTEMS = frozenset({PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM, RESERVNUMMER_SYSTEM, HSA_SYSTEM})


def check_swedish_identifiers(resource: dict[str, Any]) -> list[Issue]:
    """One issue per Swedish identifier that is malformed, naming its ``value`` element."""
    issues: list[Issue] = []
    _walk(resource, str(resource.get("resourceType", "Resource")), issues)
    return issues


def _walk(node: Any, path: str, issues: list[Issue]) -> None:
    if isinstance(node, dict):
        system, value = node.get("system"), node.get("value")
        if system in CHECKED_SYSTEMS and isinstance(value, str):
            problem = identifier_problem(system, value)
            if problem is not None:
                issues.append(error("value", problem, f"{path}.value"))
        for key, child in node.items():
            if key != "text" and isinstance(child, dict | list):
                _walk(child, f"{path}.{key}", issues)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _walk(item, f"{path}[{index}]", issues)

"""Our profiles' invariants, compiled to plain Python (R4 conformance-rules.html#constraints).

A profile's ``constraint`` is a FHIRPath expression (FHIRPath N1).  The general evaluator
(``fhirpathpy``) walks the expression's tree for every value and costs milliseconds per
invariant, a third of a contract write.  The invariants of fhirbridge's own profiles are few
and fixed, so each has a Python twin here, registered under its key *and* its exact
expression: a profile whose expression changes no longer matches its twin and is evaluated
by ``fhirpathpy`` again, so a twin can never silently check an outdated rule.  The tests
hold every twin to ``fhirpathpy``'s answer over the demo data and variants of it
(``tests/conformance/test_invariants.py``).

Each twin takes the value the invariant is evaluated on (the resource, an element or a
primitive, without primitive extensions) and answers as the validator reads FHIRPath: true,
or an empty result, holds.  A twin may raise on input the base rules would have refused; the
validator then asks ``fhirpathpy``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

ACTIVITY_KIND = "https://fhirbridge.se/fhir/CodeSystem/activity-kind"
CARE_ROLE = "https://fhirbridge.se/fhir/CodeSystem/care-role"
END_REASON = "https://fhirbridge.se/fhir/StructureDefinition/assignment-end-reason"
OFFER_DECLINED = "https://fhirbridge.se/fhir/StructureDefinition/offer-declined"
_TWELVE_DIGITS = re.compile("^[0-9]{12}$", re.DOTALL)  # as FHIRPath matches(): a search

Invariant = Callable[[Any], bool]


def _children(nodes: list[Any], name: str) -> list[Any]:
    """FHIRPath member navigation: ``nodes.name``, lists flattened, absent values dropped."""
    found: list[Any] = []
    for node in nodes:
        if isinstance(node, dict):
            child = node.get(name)
            if isinstance(child, list):
                found.extend(child)
            elif child is not None:
                found.append(child)
    return found


def _path(value: Any, *names: str) -> list[Any]:
    nodes = [value]
    for name in names:
        nodes = _children(nodes, name)
    return nodes


def _exists(value: Any, name: str) -> bool:
    return bool(_children([value], name))


def _codes(codings: list[Any], system: str) -> list[Any]:
    """``coding.where(system = '…').code``."""
    return _children([c for c in codings if isinstance(c, dict) and c.get("system") == system], "code")


def _activity_kinds(plan: Any) -> list[Any]:
    return _codes(_path(plan, "activity", "detail", "code", "coding"), ACTIVITY_KIND)


def own_part(plan: Any) -> bool:
    """contract-own-part: the patient's own part (egen insats, egenvård)."""
    return any(code in ("egen-insats", "egenvard") for code in _activity_kinds(plan))


def care_part(plan: Any) -> bool:
    """contract-care-part: what care does (vårdens insats)."""
    return "vardens-insats" in _activity_kinds(plan)


def whom_to_contact(plan: Any) -> bool:
    """contract-whom-to-contact: whom to call, and when (kontaktväg)."""
    return "kontaktvag" in _activity_kinds(plan)


def next_contact(plan: Any) -> bool:
    """contract-next-contact: an Appointment, or a scheduled 'nasta-kontakt' activity."""
    references = _path(plan, "activity", "reference", "reference")
    if any(isinstance(r, str) and r.startswith("Appointment/") for r in references):
        return True
    for detail in _path(plan, "activity", "detail"):
        if "nasta-kontakt" not in _codes(_path(detail, "code", "coding"), ACTIVITY_KIND):
            continue
        if any(_exists(detail, name) for name in ("scheduledTiming", "scheduledPeriod", "scheduledString")):
            return True
    return False


def ended_assignment_has_reason(participant: Any) -> bool:
    """contract-ended-assignment-has-reason: an ended fixed contact says why it ended."""
    fixed_roles = [
        c
        for c in _path(participant, "role", "coding")
        if isinstance(c, dict)
        and c.get("system") == CARE_ROLE
        and c.get("code") in ("fast-vardkontakt", "fast-lakarkontakt")
    ]
    if not (_path(participant, "period", "end") and fixed_roles):
        return True
    return any(
        isinstance(e, dict) and e.get("url") in (END_REASON, OFFER_DECLINED) for e in _path(participant, "extension")
    )


def personnummer_form(value: Any) -> bool:
    """se-personnummer-form: twelve digits."""
    if not isinstance(value, str):
        raise TypeError("matches() needs a string")
    return _TWELVE_DIGITS.search(value) is not None


TWINS: dict[tuple[str, str], Invariant] = {
    (
        "contract-own-part",
        "activity.detail.code.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/activity-kind')"
        ".code.intersect('egen-insats' | 'egenvard').exists()",
    ): own_part,
    (
        "contract-care-part",
        "activity.detail.code.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/activity-kind')"
        ".code contains 'vardens-insats'",
    ): care_part,
    (
        "contract-whom-to-contact",
        "activity.detail.code.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/activity-kind')"
        ".code contains 'kontaktvag'",
    ): whom_to_contact,
    (
        "contract-next-contact",
        "activity.reference.reference.where(startsWith('Appointment/')).exists() or activity.detail.where("
        "code.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/activity-kind').code contains "
        "'nasta-kontakt').where(scheduledTiming.exists() or scheduledPeriod.exists() or "
        "scheduledString.exists()).exists()",
    ): next_contact,
    (
        "contract-ended-assignment-has-reason",
        "(period.end.exists() and role.coding.where(system = 'https://fhirbridge.se/fhir/CodeSystem/care-role' "
        "and (code = 'fast-vardkontakt' or code = 'fast-lakarkontakt')).exists()) implies (extension("
        "'https://fhirbridge.se/fhir/StructureDefinition/assignment-end-reason').exists() or extension("
        "'https://fhirbridge.se/fhir/StructureDefinition/offer-declined').exists())",
    ): ended_assignment_has_reason,
    ("se-personnummer-form", "matches('^[0-9]{12}$')"): personnummer_form,
}
"""Each twin under its constraint's key and exact expression."""


def twin(key: str, expression: str) -> Invariant | None:
    """The compiled twin of this exact invariant, if there is one."""
    return TWINS.get((key, expression))

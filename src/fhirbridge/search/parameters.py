"""The search parameters of each stored type: the official R4 SearchParameters, and
fhirbridge's own in ``profiles/`` (:mod:`fhirbridge.conformance.registry`).

Each parameter's FHIRPath expression is compiled (:mod:`.fhirpath`) for its resource type,
and the element type it lands on is looked up in the StructureDefinitions, so that index
extraction knows whether a node is a Coding, an Identifier or a ContactPoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from fhirbridge.conformance.registry import registry
from fhirbridge.fhir.definitions import Definitions, ElementSpec, definitions
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.search.fhirpath import Evaluator, compile_expression, split_top_level

INDEXED_TYPES = ("token", "string", "date", "reference", "uri")
"""Parameter types with an index table; number, quantity, composite and special are not offered."""

UNSUPPORTED_CODES = frozenset({"phonetic"})
"""Parameters whose meaning needs more than an index of values (sound-alike matching)."""

COLUMN_PARAMETERS = frozenset({"_id", "_lastUpdated"})
"""Served from the ``resources`` columns rather than the index tables."""

RESULT_PARAMETERS = frozenset(
    {
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_elements",
        "_total",
        "_contained",
        "_containedType",
        "_format",
        "_pretty",
        "_cursor",
    }
)


@dataclass(frozen=True, eq=False)
class SearchParameter:
    """One search parameter as it applies to one resource type."""

    code: str
    type: str
    resource_type: str
    expression: str
    url: str
    description: str
    targets: tuple[str, ...]
    element_types: frozenset[str]
    evaluate: Evaluator
    root_keys: frozenset[str] | None
    """The JSON keys of the resource that the expression starts from; None when it cannot be
    told, so index extraction skips a parameter at once when none of them is present."""


def _element_types(defs: Definitions, resource_type: str, expression: str) -> frozenset[str]:
    """The data types a simple path lands on (empty when it cannot be told statically)."""
    found: set[str] = set()
    for part in split_top_level(expression, "|"):
        text = part.strip().strip("()")
        if " as " in text:
            found.add(text.rsplit(" as ", 1)[1].strip())
            continue
        steps = [s for s in split_top_level(text, ".") if not s.startswith(("where(", "extension("))]
        if not steps or steps[0] not in (resource_type, "Resource", "DomainResource"):
            continue
        elements: dict[str, ElementSpec] | None = defs.types[resource_type].elements
        specs: list[ElementSpec] = []
        for step in steps[1:]:
            if elements is None:
                specs = []
                break
            specs = [elements[step]] if step in elements else [s for s in elements.values() if s.choice_of == step]
            if not specs:
                break
            spec = specs[0]
            if spec.children is not None:
                elements = spec.children
            elif spec.content_reference is not None:
                target = defs.element_at(spec.content_reference)
                elements = target.children if target else None
            else:
                table = defs.types.get(spec.type_code)
                elements = table.elements if table else None
        found.update(s.type_code for s in specs)
    return frozenset(found)


def _root_keys(defs: Definitions, resource_type: str, expression: str) -> frozenset[str] | None:
    keys: set[str] = set()
    elements = defs.types[resource_type].elements
    for part in split_top_level(expression, "|"):
        if any(operator in part for operator in (" and ", " or ", "!=", "exists(", "empty(")):
            return None  # a computed value (such as ``deceased``): present even when the element is not
        steps = split_top_level(part.strip().lstrip("(").split(" as ", 1)[0].strip(), ".")
        if len(steps) < 2 or steps[0] not in (resource_type, "Resource", "DomainResource"):
            return None
        first = steps[1]
        if first.startswith("extension("):
            first = "extension"
        if first in elements:
            keys.add(first)
            continue
        choices = {name for name, spec in elements.items() if spec.choice_of == first}
        if not choices:
            return None
        keys |= choices
    return frozenset(keys)


@cache
def search_parameters(resource_type: str) -> dict[str, SearchParameter]:
    """The indexed search parameters of a stored type, by code."""
    defs = definitions()
    params: dict[str, SearchParameter] = {}
    for raw in [*defs.search_parameters, *registry().of_type("SearchParameter")]:
        bases = raw.get("base", [])
        if resource_type not in bases and "Resource" not in bases and "DomainResource" not in bases:
            continue
        if raw["type"] not in INDEXED_TYPES or not raw.get("expression") or raw["code"] in UNSUPPORTED_CODES:
            continue
        expression = raw["expression"]
        parts = [
            p
            for p in split_top_level(expression, "|")
            if p.lstrip("(").split(".", 1)[0].strip() in (resource_type, "Resource", "DomainResource")
        ]
        if not parts:
            continue
        own = " | ".join(parts)
        params[raw["code"]] = SearchParameter(
            code=raw["code"],
            type=raw["type"],
            resource_type=resource_type,
            expression=own,
            url=raw["url"],
            description=raw.get("description", ""),
            targets=tuple(raw.get("target", ())),
            element_types=_element_types(defs, resource_type, own),
            evaluate=compile_expression(own, resource_type),
            root_keys=_root_keys(defs, resource_type, own),
        )
    return dict(sorted(params.items()))


def all_search_parameters() -> dict[str, dict[str, SearchParameter]]:
    return {resource_type: search_parameters(resource_type) for resource_type in STORED_TYPES}

"""The official FHIR R4 (4.0.1) definitions, as compact tables generated from the core package.

``scripts/generate_fhir_definitions.py`` extracts them from ``hl7.fhir.r4.core#4.0.1``
(StructureDefinition snapshots, required-binding ValueSets, SearchParameters, the Patient
CompartmentDefinition).  Nothing here is written by hand, so validation and search follow the
specification rather than our memory of it.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

DEFINITIONS_PACKAGE = "fhirbridge.fhir.r4core"
MANY = -1

PRIMITIVE_JSON_KINDS: dict[str, str] = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "decimal",
}
"""JSON kind of each primitive type; every other primitive is a JSON string (R4 json.html#primitive)."""


@dataclass(frozen=True, eq=False)
class ElementSpec:
    """One element of a type, as its StructureDefinition snapshot defines it."""

    name: str
    type_code: str
    min: int
    max: int
    summary: bool
    modifier: bool
    value_set: str | None
    targets: tuple[str, ...]
    choice_of: str | None
    content_reference: str | None
    children: dict[str, ElementSpec] | None
    required_names: tuple[str, ...] = ()

    @property
    def repeats(self) -> bool:
        return self.max == MANY


@dataclass(frozen=True, eq=False)
class TypeDefinition:
    """A resource, complex or primitive type: its elements by JSON name."""

    name: str
    kind: str
    base: str | None
    elements: dict[str, ElementSpec]
    required_names: tuple[str, ...]


@dataclass(frozen=True)
class ValueSetCodes:
    """The codes of a required-binding ValueSet, by system."""

    url: str
    by_system: dict[str, frozenset[str]]
    codes: frozenset[str] = field(default_factory=frozenset)

    def contains_code(self, code: str) -> bool:
        return code in self.codes

    def contains(self, system: str | None, code: str) -> bool:
        if system is None:
            return False
        return code in self.by_system.get(system, frozenset())


def _read_text(name: str) -> str:
    return resources.files(DEFINITIONS_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def _build_elements(raw: dict[str, Any]) -> tuple[dict[str, ElementSpec], tuple[str, ...]]:
    elements: dict[str, ElementSpec] = {}
    for name, spec in raw.items():
        children = None
        child_required: tuple[str, ...] = ()
        if "c" in spec:
            children, child_required = _build_elements(spec["c"])
        types = spec.get("t") or [""]
        elements[name] = ElementSpec(
            name=name,
            type_code=types[0],
            min=int(spec.get("min", 0)),
            max=int(spec.get("max", 1)),
            summary=bool(spec.get("s")),
            modifier=bool(spec.get("m")),
            value_set=spec.get("vs"),
            targets=tuple(spec.get("tp", ())),
            choice_of=spec.get("x"),
            content_reference=spec.get("cr"),
            children=children,
            required_names=child_required,
        )
    required = tuple(name for name, spec in elements.items() if spec.min > 0 and spec.choice_of is None)
    return elements, required


class Definitions:
    """All generated tables, loaded once per process."""

    def __init__(self) -> None:
        raw_types = json.loads(
            gzip.decompress(resources.files(DEFINITIONS_PACKAGE).joinpath("elements.json.gz").read_bytes())
        )
        self.types: dict[str, TypeDefinition] = {}
        for name, table in raw_types.items():
            elements, required = _build_elements(table["c"])
            self.types[name] = TypeDefinition(name, table["kind"], table.get("base"), elements, required)
        self.resource_type_names = frozenset(
            name
            for name, t in self.types.items()
            if t.kind == "resource" and name not in ("Resource", "DomainResource")
        )
        self.value_sets: dict[str, ValueSetCodes | None] = {}
        for url, by_system in json.loads(_read_text("valuesets.json")).items():
            if by_system is None:
                self.value_sets[url] = None
                continue
            systems = {system: frozenset(codes) for system, codes in by_system.items()}
            self.value_sets[url] = ValueSetCodes(url, systems, frozenset().union(*systems.values()))
        self.search_parameters: list[dict[str, Any]] = json.loads(_read_text("search_parameters.json"))
        self.compartments: dict[str, dict[str, list[str]]] = json.loads(_read_text("compartments.json"))

    def element_at(self, path: str) -> ElementSpec | None:
        """The element at a dotted path such as ``Questionnaire.item`` (for contentReference)."""
        type_name, *names = path.split(".")
        table = self.types.get(type_name)
        if table is None:
            return None
        elements: dict[str, ElementSpec] | None = table.elements
        spec: ElementSpec | None = None
        for name in names:
            if elements is None:
                return None
            spec = elements.get(name)
            if spec is None:
                return None
            elements = spec.children
        return spec


@cache
def definitions() -> Definitions:
    return Definitions()

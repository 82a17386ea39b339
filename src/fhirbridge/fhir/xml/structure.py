"""Where each element of a FHIR resource stands and what it holds, for the XML form (R4 xml.html).

A :class:`Node` is one complex value being read or written: a resource, a data type or a
backbone element, with its child elements (from the snapshot tables of
:mod:`fhirbridge.fhir.definitions`) and their order (``element_order.json.gz``: XML requires
elements in the order the StructureDefinition lists them, JSON does not).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from fhirbridge.fhir.definitions import DEFINITIONS_PACKAGE, PRIMITIVE_JSON_KINDS, ElementSpec, definitions

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"

Kind = Literal["primitive", "complex", "resource", "xhtml"]


@cache
def _orders() -> dict[str, dict[str, int]]:
    raw = gzip.decompress(resources.files(DEFINITIONS_PACKAGE).joinpath("element_order.json.gz").read_bytes())
    return {path: {name: i for i, name in enumerate(names)} for path, names in json.loads(raw).items()}


@dataclass(frozen=True)
class Node:
    """A resource, data type or backbone element: its children and their order."""

    path: str
    """The definition path whose order applies: a type name or ``CarePlan.activity``."""
    elements: dict[str, ElementSpec]
    is_resource: bool = False
    is_extension: bool = False

    def position(self, json_name: str) -> int:
        spec = self.elements[json_name]
        order = _orders().get(self.path, {})
        return order.get(spec.choice_of or json_name, len(order))

    def child(self, json_name: str) -> tuple[Kind, Node | None]:
        """What the child element holds, and its node when it is complex."""
        spec = self.elements[json_name]
        path = f"{self.path}.{spec.choice_of or json_name}"
        if spec.content_reference is not None:
            target = definitions().element_at(spec.content_reference)
            if target is None or target.children is None:  # pragma: no cover - the core tables are complete
                raise LookupError(spec.content_reference)
            return "complex", Node(spec.content_reference, target.children)
        if spec.children is not None:
            return "complex", Node(path, spec.children)
        if spec.type_code == "Resource":
            return "resource", None
        if spec.type_code == "xhtml":
            return "xhtml", None
        if is_primitive(spec.type_code):
            return "primitive", None
        return "complex", type_node(spec.type_code)


def is_primitive(type_code: str) -> bool:
    table = definitions().types.get(type_code)
    return table is not None and table.kind == "primitive"


def json_kind(type_code: str) -> str:
    """``boolean``, ``integer``, ``decimal`` or ``string``: how the JSON form writes the value."""
    return PRIMITIVE_JSON_KINDS.get(type_code, "string")


@cache
def type_node(type_name: str) -> Node:
    """The node of a resource or complex data type; a constrained type (``SimpleQuantity``)
    keeps its base type's order."""
    table = definitions().types[type_name]
    path = type_name
    while path not in _orders() and table.base is not None:
        path = table.base
        table = definitions().types[path]
    resource = definitions().types[type_name].kind == "resource"
    return Node(path, definitions().types[type_name].elements, resource, type_name == "Extension")


def resource_node(resource_type: str) -> Node | None:
    if resource_type not in definitions().resource_type_names:
        return None
    return type_node(resource_type)

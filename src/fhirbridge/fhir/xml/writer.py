"""Writing a FHIR resource as XML (R4 xml.html).

The JSON form is the source: each element goes out in the order its StructureDefinition
lists it, a primitive as a ``value`` attribute with its ``_name`` id and extensions beside it
(R4 json.html#primitive), an element id and an extension url as attributes, a nested resource
(``contained``, ``Bundle.entry.resource``, ``Parameters.parameter.resource``) inside an element
named by its type, and the Narrative div as real XHTML.  Decimals are written digit for digit.
"""

from __future__ import annotations

import re
from copy import deepcopy
from typing import Any

from lxml import etree

from fhirbridge.fhir.xml.safe import parse_xhtml
from fhirbridge.fhir.xml.structure import FHIR_NS, XHTML_NS, Node, resource_node, type_node

_F = f"{{{FHIR_NS}}}"


def write_xml(resource: dict[str, Any], *, pretty: bool = False) -> bytes:
    """The XML form of a resource (an XML declaration, UTF-8)."""
    root = _resource_element(resource)
    if pretty:
        _indent(root)
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return document


def _indent(root: etree._Element) -> None:
    """Indent the FHIR elements, leaving each narrative's XHTML as it was (whitespace there is content)."""
    divs = [(div, deepcopy(div)) for div in root.iter(f"{{{XHTML_NS}}}div") if div.getparent() is not None]
    etree.indent(root, space="  ")
    for div, original in divs:
        if div.getparent() is not None and etree.QName(div.getparent()).namespace == FHIR_NS:
            div.text = original.text
            div[:] = list(original)


def _resource_element(resource: dict[str, Any]) -> etree._Element:
    resource_type = resource.get("resourceType")
    node = resource_node(resource_type) if isinstance(resource_type, str) else None
    if node is None or not isinstance(resource_type, str):
        raise ValueError(f"not a FHIR resource: resourceType {resource_type!r}")
    element = etree.Element(_F + resource_type, nsmap={None: FHIR_NS})
    _write_children(element, resource, node)
    return element


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot carry (section 2.2): FHIR strings exclude them, but an
OperationOutcome may quote what a client sent; they are written as U+FFFD."""


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))  # a Decimal keeps the digits it was read with


def _names(obj: dict[str, Any], node: Node) -> list[str]:
    names = {key.removeprefix("_") for key in obj if key != "resourceType"}
    if not node.is_resource:
        names.discard("id")  # an attribute of the element (R4 xml.html)
    if node.is_extension:
        names.discard("url")
    unknown = sorted(name for name in names if name not in node.elements)
    if unknown:
        raise ValueError(f"{node.path} has no element {unknown[0]}")
    return sorted(names, key=node.position)


def _write_children(parent: etree._Element, obj: dict[str, Any], node: Node) -> None:
    for name in _names(obj, node):
        kind, child = node.child(name)
        if kind == "primitive":
            _write_primitive(parent, name, obj.get(name), obj.get("_" + name))
            continue
        for value in _items(obj.get(name)):
            if kind == "xhtml":
                parent.append(parse_xhtml(value))
            elif kind == "resource":
                holder = etree.SubElement(parent, _F + name)
                holder.append(_resource_element(value))
            else:
                assert child is not None
                _write_complex(parent, name, value, child)


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _write_complex(parent: etree._Element, name: str, value: dict[str, Any], node: Node) -> None:
    element = etree.SubElement(parent, _F + name)
    if "id" in value:
        element.set("id", _value_text(value["id"]))
    if node.is_extension and "url" in value:
        element.set("url", _value_text(value["url"]))
    _write_children(element, value, node)


def _write_primitive(parent: etree._Element, name: str, value: Any, extra: Any) -> None:
    if isinstance(value, list) or isinstance(extra, list):
        values = value if isinstance(value, list) else []
        extras = extra if isinstance(extra, list) else []
        for i in range(max(len(values), len(extras))):
            _write_primitive(
                parent, name, values[i] if i < len(values) else None, extras[i] if i < len(extras) else None
            )
        return
    if value is None and not extra:
        return
    element = etree.SubElement(parent, _F + name)
    if isinstance(extra, dict) and "id" in extra:
        element.set("id", _value_text(extra["id"]))
    if value is not None:
        element.set("value", _value_text(value))
    if isinstance(extra, dict):
        for extension in extra.get("extension", []):
            _write_complex(element, "extension", extension, type_node("Extension"))

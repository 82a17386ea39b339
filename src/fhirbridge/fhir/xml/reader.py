"""Reading a FHIR XML resource into the JSON form (R4 xml.html, json.html).

The result is the dictionary the JSON parser would give for the same resource, so an XML
request goes through the one write path (validation, rules, audit) unchanged.  Anything that
is not FHIR XML is a 400 naming the element: another namespace, an element or attribute the
StructureDefinition does not have, a repeated element that may occur once, text where none
belongs, a value that is not of its primitive type, nesting past the limit.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from fhirbridge.errors import bad_request
from fhirbridge.fhir.definitions import ElementSpec
from fhirbridge.fhir.xml.safe import parse_document
from fhirbridge.fhir.xml.structure import FHIR_NS, XHTML_NS, Node, json_kind, resource_node, type_node

_INTEGER = re.compile(r"^[-+]?\d+$")
_DECIMAL = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$")


def read_xml(body: bytes, max_depth: int = 64) -> dict[str, Any]:
    """The JSON form of the FHIR XML resource in ``body``; a 400 for anything else."""
    if not body or not body.strip():
        raise bad_request("The request body is empty; a FHIR XML resource was expected", code="required")
    return _Reader(max_depth).resource(parse_document(body))


def _local(element: etree._Element, where: str) -> str:
    qname = etree.QName(element)
    if qname.namespace != FHIR_NS:
        namespace = qname.namespace or "no namespace"
        raise bad_request(
            f"{where}: element <{qname.localname}> is in {namespace}, not the FHIR namespace {FHIR_NS}",
            where,
            code="structure",
        )
    local: str = qname.localname
    return local


def _children(element: etree._Element, where: str) -> list[etree._Element]:
    if element.text is not None and element.text.strip():
        raise bad_request(f"{where} has text content; FHIR XML carries values in attributes", where, code="structure")
    children = []
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions are removed by the parser
        if child.tail is not None and child.tail.strip():
            raise bad_request(
                f"{where} has text content; FHIR XML carries values in attributes", where, code="structure"
            )
        children.append(child)
    return children


class _Reader:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth

    def resource(self, element: etree._Element, where: str = "", depth: int = 0) -> dict[str, Any]:
        resource_type = _local(element, where or "The document")
        node = resource_node(resource_type)
        if node is None:
            at = where or resource_type
            raise bad_request(f"{at}: <{resource_type}> is not a FHIR R4 resource type", at, code="structure")
        self._no_attributes(element, resource_type, allowed=())
        result: dict[str, Any] = {"resourceType": resource_type}
        result.update(self.content(element, node, resource_type, depth + 1))
        return result

    def _no_attributes(self, element: etree._Element, where: str, allowed: tuple[str, ...]) -> None:
        for name in element.attrib:
            if name not in allowed:
                raise bad_request(f"{where} has an unknown attribute {name}", where, code="structure")

    def content(self, element: etree._Element, node: Node, where: str, depth: int) -> dict[str, Any]:
        if depth > self.max_depth:
            raise bad_request(f"The body nests elements more than {self.max_depth} levels deep", code="too-costly")
        result: dict[str, Any] = {}
        for child in _children(element, where):
            if child.tag == f"{{{XHTML_NS}}}div" and "div" in node.elements:
                self._put(result, "div", node.elements["div"], _xhtml(child), f"{where}.div")
                continue
            name = _local(child, where)
            spec = node.elements.get(name)
            if spec is None or (name == "id" and not node.is_resource) or (name == "url" and node.is_extension):
                raise bad_request(f"Unknown element {where}.{name}", f"{where}.{name}", code="structure")
            path = f"{where}.{name}"
            kind, child_node = node.child(name)
            if kind == "primitive":
                self._primitive(result, name, spec, child, path, depth)
            elif kind == "resource":
                self._put(result, name, spec, self._nested_resource(child, path, depth), path)
            elif kind == "xhtml":
                raise bad_request(f"{path} must be an XHTML div in {XHTML_NS}", path, code="structure")
            else:
                assert child_node is not None
                self._put(result, name, spec, self._complex(child, child_node, path, depth), path)
        return _without_empty_lists(result)

    def _complex(self, element: etree._Element, node: Node, where: str, depth: int) -> dict[str, Any]:
        allowed = ("id", "url") if node.is_extension else ("id",)
        self._no_attributes(element, where, allowed)
        value: dict[str, Any] = {}
        if "id" in element.attrib:
            value["id"] = element.get("id")
        if node.is_extension and "url" in element.attrib:
            value["url"] = element.get("url")
        value.update(self.content(element, node, where, depth + 1))
        if not value:
            raise bad_request(f"{where} is empty; FHIR leaves out elements without content", where, code="structure")
        return value

    def _nested_resource(self, element: etree._Element, where: str, depth: int) -> dict[str, Any]:
        self._no_attributes(element, where, ())
        inner = _children(element, where)
        if len(inner) != 1:
            raise bad_request(f"{where} must hold exactly one resource", where, code="structure")
        return self.resource(inner[0], where, depth + 1)

    def _primitive(
        self, result: dict[str, Any], name: str, spec: ElementSpec, element: etree._Element, where: str, depth: int
    ) -> None:
        self._no_attributes(element, where, ("id", "value"))
        extra: dict[str, Any] = {}
        if "id" in element.attrib:
            extra["id"] = element.get("id")
        extensions = []
        extension_node = type_node("Extension")
        for child in _children(element, where):
            if _local(child, where) != "extension":
                raise bad_request(f"Unknown element {where}.{etree.QName(child).localname}", where, code="structure")
            extensions.append(self._complex(child, extension_node, f"{where}.extension", depth + 1))
        if extensions:
            extra["extension"] = extensions
        raw = element.get("value")
        value = None if raw is None else _typed(raw, spec.type_code, where)
        if value is None and not extra:
            raise bad_request(f"{where} has neither a value nor extensions", where, code="structure")
        if not spec.repeats:
            if name in result or "_" + name in result:
                raise bad_request(f"{where} may occur only once", where, code="structure")
            if value is not None:
                result[name] = value
            if extra:
                result["_" + name] = extra
            return
        values = result.setdefault(name, [])
        extras = result.setdefault("_" + name, [])
        values.append(value)
        extras.append(extra or None)

    def _put(self, result: dict[str, Any], name: str, spec: ElementSpec, value: Any, where: str) -> None:
        if spec.repeats:
            result.setdefault(name, []).append(value)
        elif name in result:
            raise bad_request(f"{where} may occur only once", where, code="structure")
        else:
            result[name] = value


def _typed(raw: str, type_code: str, where: str) -> Any:
    kind = json_kind(type_code)
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise bad_request(f"{where} must be true or false, not {raw!r}", where)
        return raw == "true"
    if kind == "integer":
        if not _INTEGER.match(raw):
            raise bad_request(f"{where} must be an integer, not {raw!r}", where)
        return int(raw)
    if kind == "decimal":
        if not _DECIMAL.match(raw):
            raise bad_request(f"{where} must be a decimal, not {raw!r}", where)
        try:
            return Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise bad_request(f"{where} must be a decimal, not {raw!r}", where) from None
    return raw


def _xhtml(element: etree._Element) -> str:
    """The div as the JSON form carries it: a string of XHTML with its namespace (R4 json.html)."""
    copy = etree.fromstring(etree.tostring(element, with_tail=False))
    etree.cleanup_namespaces(copy)
    text: str = etree.tostring(copy, encoding="unicode", with_tail=False)
    return text


def _without_empty_lists(result: dict[str, Any]) -> dict[str, Any]:
    """A repeating primitive's ``name`` and ``_name`` lists stay aligned, with nulls only
    where the other list has something (R4 json.html#primitive); a list of only nulls goes."""
    for key in [key for key, value in result.items() if isinstance(value, list)]:
        if all(item is None for item in result[key]):
            del result[key]
    return result

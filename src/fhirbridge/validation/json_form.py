"""The FHIR JSON form of a resource, checked against the official element tables.

R4 json.html and the base StructureDefinitions, checked in one walk of the resource:

* JSON kinds: ``true`` not ``"true"``, numbers not strings, no ``null``, no empty objects,
  arrays or strings; arrays exactly where the element repeats; no unknown elements; at most
  one of each choice (``scheduled[x]``); primitive extensions in ``_element`` companions.
* Cardinality: every element with ``min`` 1 present.
* Required bindings (R4 terminologies.html#required): a ``code`` must be in its value set, a
  ``Coding`` or ``CodeableConcept`` must carry a coding from it.
* Reference target types (R4 references.html): ``CarePlan.subject`` names a Patient or Group.
* Contained resources (R4 references.html#contained): no nested ``contained``, every
  internal reference resolves to a contained resource.
* Primitive forms (R4 datatypes.html#primitive): dates, times, codes, ids, URIs, OIDs, UUIDs
  and base64 by their official expressions, dates by the calendar
  (:mod:`fhirbridge.fhir.primitives`).
* Narrative safety (invariants txt-1 and txt-2): XHTML ``div`` without active content.
* FHIR's own limits: a ``string`` (and ``code``, ``id``, ``markdown``, which are strings) of
  at most 1 MB (R4 datatypes.html#string), counted as 1024 * 1024 bytes of UTF-8; ids
  (R4 datatypes.html#id) in references, and addresses under this server's base that name a
  resource.

Every issue's ``expression`` is the FHIRPath of the offending element, such as
``CarePlan.activity[0].detail.status``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fhirbridge.errors import Issue, error
from fhirbridge.fhir.definitions import (
    MANY,
    PRIMITIVE_JSON_KINDS,
    Definitions,
    ElementSpec,
    TypeDefinition,
    definitions,
)
from fhirbridge.fhir.primitives import form_problem
from fhirbridge.fhir.references import ParsedReference, is_on_server, parse_reference, reference_problem

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_STRING_BYTES = 1024 * 1024
"""R4 datatypes.html#string: "strings SHALL NOT exceed 1MB in size", here bytes of UTF-8."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_UNSAFE_XHTML = re.compile(
    r"<\s*(script|iframe|object|embed|form|input|button|style|link|meta|base|frame|frameset|applet)\b"
    r"|\son[a-z]+\s*=|javascript:|vbscript:|data:text/html",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FoundReference:
    """A reference met on the way, with the FHIRPath of its ``Reference`` element."""

    path: str
    parsed: ParsedReference
    targets: tuple[str, ...] = ()
    """The resource types the element may refer to (empty: any)."""


@dataclass(frozen=True)
class ReferenceSite:
    """Where a ``Reference`` element sits, whatever form it takes (literal, logical, display only)."""

    path: str
    """Its FHIRPath in the resource, for error messages: ``CarePlan.contained[0].subject``."""
    element: str
    """The element it is, from the type of the resource that holds it, without indices:
    ``Goal.subject`` for the one above when ``contained[0]`` is a Goal."""
    targets: tuple[str, ...] = ()
    """The resource types the element may refer to (empty: any)."""


@dataclass
class FormReport:
    issues: list[Issue] = field(default_factory=list)
    references: list[FoundReference] = field(default_factory=list)
    sites: list[ReferenceSite] = field(default_factory=list)
    too_long: list[Issue] = field(default_factory=list)
    """Well-formed strings over FHIR's size limit: the resource is read, but not accepted (422)."""


class _Walker:
    def __init__(self, defs: Definitions, local_base: str | None) -> None:
        self.defs = defs
        self.local_base = local_base
        self.report = FormReport()
        self._contained_ids: list[set[str]] = []
        self._holders: list[tuple[str, str]] = []
        """The resources being walked (the resource, then a contained one): type and path."""

    def fail(self, code: str, message: str, path: str) -> None:
        self.report.issues.append(error(code, message, path))

    # -- resources -----------------------------------------------------------------------
    def resource(self, value: Any, path: str, *, contained: bool = False) -> None:
        if not isinstance(value, dict):
            self.fail("structure", "A resource must be a JSON object", path)
            return
        resource_type = value.get("resourceType")
        table = self.defs.types.get(resource_type) if isinstance(resource_type, str) else None
        if table is None or table.kind != "resource" or resource_type in ("Resource", "DomainResource"):
            self.fail(
                "structure",
                f"Unknown resourceType {resource_type!r}",
                f"{path}.resourceType" if path else "resourceType",
            )
            return
        here: str = path or table.name
        self._holders.append((table.name, here))
        try:
            self._resource_body(value, table, here, contained=contained)
        finally:
            self._holders.pop()

    def _resource_body(self, value: dict[str, Any], table: TypeDefinition, here: str, *, contained: bool) -> None:
        if contained:
            if "contained" in value:
                self.fail(
                    "structure", "A contained resource must not contain other resources (dom-2)", f"{here}.contained"
                )
            if not isinstance(value.get("id"), str):
                self.fail("required", "A contained resource must have an id", f"{here}.id")
            # Internal references inside a contained resource resolve against its container.
            self.object(value, table.elements, table.required_names, here, is_resource=True)
            return
        contained_resources = value.get("contained")
        ids = {
            item["id"]
            for item in (contained_resources if isinstance(contained_resources, list) else [])
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        }
        self._contained_ids.append(ids)
        try:
            self.object(value, table.elements, table.required_names, here, is_resource=True)
        finally:
            self._contained_ids.pop()

    # -- objects -----------------------------------------------------------------------
    def object(
        self,
        value: dict[str, Any],
        elements: dict[str, ElementSpec],
        required: tuple[str, ...],
        path: str,
        *,
        is_resource: bool = False,
    ) -> None:
        if not value:
            self.fail("structure", "Empty objects are not allowed in FHIR JSON", path)
            return
        choices: dict[str, str] = {}
        for key, item in value.items():
            if key == "resourceType" and is_resource:
                continue
            if key.startswith("_"):
                self.primitive_extension(key, item, elements, path)
                continue
            spec = elements.get(key)
            if spec is None:
                self.fail("structure", f"Unknown element '{key}'", f"{path}.{key}")
                continue
            if spec.choice_of is not None:
                other = choices.setdefault(spec.choice_of, key)
                if other != key:
                    self.fail(
                        "structure",
                        f"Only one of {spec.choice_of}[x] may be present, found {other} and {key}",
                        f"{path}.{key}",
                    )
            self.element(item, spec, f"{path}.{key}")
        for name in required:
            if name not in value and f"_{name}" not in value:
                self.fail("required", f"Missing required element '{name}'", f"{path}.{name}")

    def primitive_extension(self, key: str, item: Any, elements: dict[str, ElementSpec], path: str) -> None:
        name = key[1:]
        spec = elements.get(name)
        where = f"{path}.{name}"
        if (
            spec is None
            or self.defs.types.get(spec.type_code, None) is None
            or self.defs.types[spec.type_code].kind != "primitive"
        ):
            self.fail("structure", f"Unknown element '{key}'", f"{path}.{key}")
            return
        element_table = self.defs.types["Element"]
        items = item if isinstance(item, list) else [item]
        if isinstance(item, list) != spec.repeats:
            self.fail("structure", f"'{key}' must {'be' if spec.repeats else 'not be'} an array", where)
            return
        for index, entry in enumerate(items):
            if entry is None and spec.repeats:
                continue
            if not isinstance(entry, dict) or not entry:
                self.fail("structure", f"'{key}' entries must be non-empty objects", where)
                continue
            self.object(entry, element_table.elements, (), f"{where}[{index}]" if spec.repeats else where)

    # -- elements ----------------------------------------------------------------------
    def element(self, value: Any, spec: ElementSpec, path: str) -> None:
        if value is None:
            self.fail("structure", "null is not allowed in FHIR JSON; leave the element out", path)
            return
        if spec.max == MANY:
            if not isinstance(value, list):
                self.fail("structure", "This element repeats and must be a JSON array", path)
                return
            if not value:
                self.fail("structure", "Empty arrays are not allowed in FHIR JSON; leave the element out", path)
                return
            for index, item in enumerate(value):
                item_path = f"{path}[{index}]"
                if item is None:
                    self.fail("structure", "null is not allowed in FHIR JSON arrays here", item_path)
                else:
                    self.value(item, spec, item_path)
            return
        if isinstance(value, list):
            self.fail("structure", "This element does not repeat and must not be an array", path)
            return
        self.value(value, spec, path)

    def value(self, value: Any, spec: ElementSpec, path: str) -> None:
        if spec.content_reference is not None:
            target = self.defs.element_at(spec.content_reference)
            if target is not None and target.children is not None:
                if isinstance(value, dict):
                    self.object(value, target.children, target.required_names, path)
                else:
                    self.fail("structure", "Expected a JSON object", path)
            return
        if spec.children is not None:
            if isinstance(value, dict):
                self.object(value, spec.children, spec.required_names, path)
            else:
                self.fail("structure", "Expected a JSON object", path)
            return
        type_code = spec.type_code
        if type_code == "Resource":
            self.resource(value, path, contained=path.rsplit(".", 1)[-1].startswith("contained"))
            return
        table = self.defs.types.get(type_code)
        if table is None:
            return
        if table.kind == "primitive" or type_code == "xhtml":
            self.primitive(value, type_code, spec, path)
            return
        if not isinstance(value, dict):
            self.fail("structure", f"Expected a {type_code} object", path)
            return
        self.object(value, table.elements, table.required_names, path)
        if type_code == "Reference":
            self.reference(value, spec, path)
        elif spec.value_set is not None and type_code in ("Coding", "CodeableConcept"):
            self.coded(value, type_code, spec.value_set, path)

    def primitive(self, value: Any, type_code: str, spec: ElementSpec, path: str) -> None:
        kind = PRIMITIVE_JSON_KINDS.get(type_code, "string")
        if kind == "boolean":
            if not isinstance(value, bool):
                self.fail("value", f"A {type_code} must be JSON true or false, not {value!r}", path)
            return
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail("value", f"A {type_code} must be a JSON integer, not {value!r}", path)
            elif (
                not INT32_MIN <= value <= INT32_MAX
                or (type_code == "positiveInt" and value < 1)
                or (type_code == "unsignedInt" and value < 0)
            ):
                self.fail("value", f"{value} is out of range for {type_code}", path)
            return
        if kind == "decimal":
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                self.fail("value", f"A decimal must be a JSON number, not {value!r}", path)
            return
        if not isinstance(value, str):
            self.fail("value", f"A {type_code} must be a JSON string, not {value!r}", path)
            return
        if not value.strip():
            self.fail("value", "Strings must not be empty or only white space", path)
            return
        if _CONTROL.search(value):
            self.fail("value", "Strings must not contain control characters other than tab, CR and LF", path)
            return
        if self._is_string(type_code) and _too_long(value):
            self.report.too_long.append(
                error("too-long", f"A FHIR {type_code} may hold at most 1 MB ({MAX_STRING_BYTES} bytes of UTF-8)", path)
            )
            return
        problem = form_problem(type_code, value)
        if problem is not None:
            self.fail("value", problem, path)
            return
        if type_code == "xhtml":
            self.narrative(value, path)
        elif type_code == "code" and spec.value_set is not None:
            codes = self.defs.value_sets.get(spec.value_set)
            if codes is not None and not codes.contains_code(value):
                allowed = (
                    ", ".join(sorted(codes.codes)) if len(codes.codes) <= 12 else f"the value set {spec.value_set}"
                )
                self.fail("code-invalid", f"'{value}' is not a valid code here; allowed: {allowed}", path)

    def _is_string(self, type_code: str) -> bool:
        return type_code == "string" or self.defs.types[type_code].base == "string"

    def narrative(self, value: str, path: str) -> None:
        if not value.lstrip().startswith("<div") or "http://www.w3.org/1999/xhtml" not in value:
            self.fail("value", "Narrative must be an XHTML <div> in the http://www.w3.org/1999/xhtml namespace", path)
        elif _UNSAFE_XHTML.search(value):
            self.fail("security", "Narrative must not contain active content (scripts, forms, event handlers)", path)

    def coded(self, value: dict[str, Any], type_code: str, value_set: str, path: str) -> None:
        codes = self.defs.value_sets.get(value_set)
        if codes is None:
            return
        codings = [value] if type_code == "Coding" else value.get("coding") or []
        for coding in codings:
            if (
                isinstance(coding, dict)
                and isinstance(coding.get("code"), str)
                and codes.contains(coding.get("system"), coding["code"])
            ):
                return
        self.fail("code-invalid", f"A coding from the required value set {value_set} is needed", path)

    def reference(self, value: dict[str, Any], spec: ElementSpec, path: str) -> None:
        text = value.get("reference")
        declared = value.get("type")
        allowed = spec.targets
        any_type = not allowed or "Resource" in allowed
        holder_type, holder_path = self._holders[-1]
        element = holder_type + re.sub(r"\[\d+\]", "", path[len(holder_path) :])
        self.report.sites.append(ReferenceSite(path, element, () if any_type else allowed))
        if isinstance(declared, str) and "/" not in declared:
            if declared not in self.defs.resource_type_names:
                self.fail("value", f"Reference.type '{declared}' is not a resource type", f"{path}.type")
            elif not any_type and declared not in allowed:
                self.fail("invalid", f"{path} must refer to {' or '.join(allowed)}, not {declared}", f"{path}.type")
        if not isinstance(text, str):
            return
        parsed = parse_reference(text, self.local_base)
        if parsed is None or (
            parsed.kind == "absolute" and parsed.resource_type is None and is_on_server(text, self.local_base)
        ):
            self.fail("value", reference_problem(text, self.local_base), f"{path}.reference")
            return
        if parsed.kind == "contained":
            known = self._contained_ids[-1] if self._contained_ids else set()
            if parsed.resource_id is not None and parsed.resource_id not in known:
                self.fail("not-found", f"No contained resource has the id '{parsed.resource_id}'", f"{path}.reference")
            return
        if parsed.resource_type is not None:
            if parsed.resource_type not in self.defs.resource_type_names:
                self.fail("value", f"'{parsed.resource_type}' is not a resource type", f"{path}.reference")
                return
            if not any_type and parsed.resource_type not in allowed:
                self.fail(
                    "invalid",
                    f"{path} must refer to {' or '.join(allowed)}, not {parsed.resource_type}",
                    f"{path}.reference",
                )
                return
            if isinstance(declared, str) and "/" not in declared and declared != parsed.resource_type:
                self.fail("invalid", f"Reference.type '{declared}' contradicts the reference {text}", f"{path}.type")
                return
        self.report.references.append(FoundReference(path, parsed, () if any_type else allowed))


def _too_long(value: str) -> bool:
    """More than 1 MB of UTF-8; a string of at most a quarter of that many characters needs no
    counting (no character takes more than four bytes)."""
    return len(value) > MAX_STRING_BYTES // 4 and len(value.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES


def check_json_form(resource: Any, local_base: str | None = None) -> FormReport:
    """Check a parsed JSON resource; returns its issues and every reference it holds."""
    walker = _Walker(definitions(), local_base)
    walker.resource(resource, "")
    return walker.report

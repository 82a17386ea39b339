"""Validation against fhirbridge's own profiles (R4 profiling.html, validation.html).

The base rules of R4 (every element's type and cardinality, required bindings, reference
types) are checked for every resource by :mod:`fhirbridge.validation`.  What a profile adds
lives in its *differential*, so that is what this module checks, for each element there:

* cardinality (``min``/``max``), per occurrence of the parent element;
* ``fixed[x]`` and ``pattern[x]`` values;
* bindings to our ValueSets: ``required`` is an error, ``extensible`` a warning when no
  coding comes from the value set;
* reference targets narrowed by ``type.targetProfile``;
* extensions sliced in by ``type.profile``: their value type and binding;
* slices (``category:contract``, ``identifier:personnummer``), recognised by their pattern or
  by the discriminator's fixed value, with their own cardinality and child rules;
* invariants (``constraint``): our own profiles' by their Python twins
  (:mod:`fhirbridge.conformance.invariants`), any other with the FHIRPath library ``fhirpathpy``.

Which profiles apply: those in ``meta.profile`` that this server knows, and the one the
deployment's rules in ``profiles/rules/required-profiles.json`` hold the resource to
(:mod:`fhirbridge.conformance.required`): the contract profile for every CarePlan in the
contract category (issue 4), or the declined-offer profile for one that records a declined
offer (``offer-declined``, issue 13).  Unknown profiles in ``meta.profile`` are reported as
warnings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhirbridge.conformance.invariants import twin
from fhirbridge.conformance.registry import registry
from fhirbridge.conformance.required import required_profile
from fhirbridge.errors import Issue, Severity, invalid
from fhirbridge.fhir.references import parse_reference

CONTRACT_PROFILE = "https://fhirbridge.se/fhir/StructureDefinition/contract-careplan"
DECLINED_OFFER_PROFILE = "https://fhirbridge.se/fhir/StructureDefinition/contract-declined-offer"
GOAL_PROFILE = "https://fhirbridge.se/fhir/StructureDefinition/contract-goal"
CARE_TEAM_PROFILE = "https://fhirbridge.se/fhir/StructureDefinition/contract-careteam"
MAX_CLAIMED_PROFILES = 10
"""Claims beyond this many are not looked at (each known profile costs a full check)."""
BASE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
Found = tuple[Any, str]
"""A value and the FHIRPath of where it sits (``CarePlan.activity[2].detail``)."""


def applicable_profiles(resource: dict[str, Any]) -> tuple[list[str], list[Issue]]:
    """The profile URLs to check ``resource`` against, and warnings for unknown claims."""
    urls: list[str] = []
    warnings: list[Issue] = []
    resource_type = resource.get("resourceType")
    claims = (resource.get("meta") or {}).get("profile", [])
    if not isinstance(claims, list):
        return urls, warnings
    for index, claimed in enumerate(claims[:MAX_CLAIMED_PROFILES]):
        profile = registry().resolve(str(claimed))
        if profile is not None and profile.get("resourceType") == "StructureDefinition":
            if profile["url"] not in urls:  # a profile claimed twice (or as two versions) is checked once
                urls.append(profile["url"])
        elif not str(claimed).startswith(BASE_PREFIX):
            warnings.append(
                Issue(
                    "warning",
                    "not-supported",
                    f"Unknown profile {claimed}: not checked",
                    (f"{resource_type}.meta.profile[{index}]",),
                )
            )
    required = required_profile(resource)
    if required is not None and required not in urls:
        urls.append(required)
    return urls, warnings


def validate_profiles(resource: dict[str, Any], extra: list[str] | None = None) -> list[Issue]:
    """Every issue of ``resource`` against its applicable profiles (and ``extra`` ones)."""
    urls, issues = applicable_profiles(resource)
    for url in extra or []:
        if url not in urls:
            urls.append(url)
    for url in urls:
        issues += check_profile(resource, url)
    return issues


def profile_errors(resource: dict[str, Any]) -> list[Issue]:
    """The issues of ``resource`` against its applicable profiles that refuse a write."""
    return [issue for issue in validate_profiles(resource) if issue.severity in ("error", "fatal")]


def hold_to_profiles(resource: dict[str, Any]) -> None:
    """A 422 naming every profile error of ``resource``, as a write refuses it; else nothing."""
    problems = profile_errors(resource)
    if problems:
        raise invalid(problems, status=422)


def check_profile(resource: dict[str, Any], url: str) -> list[Issue]:
    profile = registry().resolve(url)
    if profile is None or profile.get("resourceType") != "StructureDefinition":
        return [Issue("error", "not-found", f"Unknown profile {url}", ())]
    resource_type = resource.get("resourceType")
    if profile.get("type") != resource_type:
        return [Issue("error", "invalid", f"{url} profiles {profile.get('type')}, not {resource_type}", ())]
    return _Checker(profile).check(resource)


@dataclass(frozen=True)
class _Slice:
    base: str  # the sliced element's path: Patient.identifier
    name: str
    root: dict[str, Any]
    children: list[dict[str, Any]]


class _Checker:
    def __init__(self, profile: dict[str, Any]) -> None:
        self.profile = profile
        self.name = profile.get("name", profile["url"])
        self.elements = profile.get("differential", {}).get("element", [])
        self.slicing = {e["path"]: e["slicing"] for e in self.elements if "slicing" in e and ":" not in e["id"]}
        self.issues: list[Issue] = []
        self._plain_values: dict[int, tuple[Any, Any]] = {}  # id -> (the value, kept alive; its copy)

    def check(self, resource: dict[str, Any]) -> list[Issue]:
        return self.check_at(resource, resource["resourceType"], resource["resourceType"])

    def check_at(self, value: Any, root: str, where: str) -> list[Issue]:
        """Check ``value`` (a resource, or an extension) found at ``where``."""
        for element in self.elements:
            if ":" not in element["id"]:
                self._element(element, [(value, where)], root)
        for found_slice in self._slices():
            self._slice(found_slice, value, root, where)
        return self.issues

    # -- elements ------------------------------------------------------------------
    def _element(self, element: dict[str, Any], scope: list[Found], scope_path: str) -> None:
        """Check one differential element against every occurrence under ``scope``."""
        relative = element["path"][len(scope_path) :].lstrip(".")
        parents_path, _, name = relative.rpartition(".")
        parents = _descend(scope, parents_path) if parents_path else scope
        for parent, where in parents:
            if not name:  # the scope itself (the resource root, or a slice member)
                self._values(element, [(parent, where)])
                continue
            values = _children(parent, name, where)
            self._cardinality(element, values, f"{where}.{name.replace('[x]', '')}")
            if name.endswith("[x]") and element.get("type"):
                self._choice_types(name, element["type"], values)
            self._values(element, values)

    def _choice_types(self, name: str, types: list[dict[str, Any]], values: list[Found]) -> None:
        allowed = {name[:-3] + t["code"][:1].upper() + t["code"][1:] for t in types}
        for _, where in values:
            key = where.rsplit(".", 1)[-1].split("[", 1)[0]
            if key not in allowed:
                self._error("structure", f"{self.name}: {where} must be one of {', '.join(sorted(allowed))}", where)

    def _cardinality(self, element: dict[str, Any], values: list[Found], where: str) -> None:
        minimum, maximum = element.get("min"), element.get("max")
        label = f" ({element['short']})" if element.get("short") else ""
        if minimum and len(values) < minimum:
            self._error("required", f"{self.name}: {where} is required{label}, at least {minimum}", where)
        if maximum not in (None, "*") and len(values) > int(maximum):
            self._error("structure", f"{self.name}: {where} allows at most {maximum}, found {len(values)}", where)

    def _values(self, element: dict[str, Any], values: list[Found]) -> None:
        for key, expected in element.items():
            if key.startswith("fixed"):
                for value, where in values:
                    if value != expected:
                        self._error("value", f"{self.name}: {where} must be {_show(expected)}", where)
            elif key.startswith("pattern"):
                for value, where in values:
                    if not _matches(value, expected):
                        self._error("value", f"{self.name}: {where} must match {_show(expected)}", where)
        if "binding" in element:
            self._binding(element["binding"], values)
        for type_entry in element.get("type", []):
            if type_entry.get("targetProfile"):
                self._targets(type_entry["targetProfile"], values)
        for constraint in element.get("constraint", []):
            if constraint.get("source", self.profile["url"]) != self.profile["url"]:
                continue
            for value, where in values:
                self._invariant(constraint, value, where)

    def _binding(self, binding: dict[str, Any], values: list[Found]) -> None:
        allowed = registry().codes(binding.get("valueSet", "")) if binding.get("valueSet") else None
        if allowed is None or binding.get("strength") not in ("required", "extensible"):
            return
        for value, where in values:
            codings = _codings(value)
            if any((c.get("system"), c.get("code")) in allowed for c in codings):
                continue
            message = f"{self.name}: {where} has no code from {binding['valueSet']}"
            if binding["strength"] == "required":
                self._error("code-invalid", message, where)
            else:
                self.issues.append(Issue("warning", "code-invalid", message + " (extensible binding)", (where,)))

    def _targets(self, target_profiles: list[str], values: list[Found]) -> None:
        allowed = {_profiled_type(url) for url in target_profiles}
        for value, where in values:
            reference = value.get("reference") if isinstance(value, dict) else None
            if not isinstance(reference, str) or reference.startswith(("#", "urn:")):
                continue  # contained, or a transaction's placeholder: checked by the base rules
            parsed = parse_reference(reference)
            target = parsed.resource_type if parsed is not None else None
            if target is not None and target not in allowed:
                self._error(
                    "invalid",
                    f"{self.name}: {where} must refer to {' or '.join(sorted(allowed))}, not {target}",
                    f"{where}.reference",
                )

    def _plain(self, value: Any) -> Any:
        """``value`` without primitive extensions, made once per value however many invariants."""
        key = id(value)
        if key not in self._plain_values:
            self._plain_values[key] = (value, _without_primitive_extensions(value))
        return self._plain_values[key][1]

    def _invariant(self, constraint: dict[str, Any], value: Any, where: str) -> None:
        severity: Severity = "error" if constraint.get("severity") == "error" else "warning"
        place = _focus(constraint["expression"], where)
        text = f"{self.name} {constraint['key']}: {constraint.get('human', constraint['expression'])}"
        holds: bool | None = None
        compiled = twin(constraint["key"], constraint["expression"])
        if compiled is not None:
            try:
                holds = compiled(value)
            except Exception:
                holds = None  # input the base rules would refuse: FHIRPath says what it makes of it
        try:
            if holds is None:
                # fhirpathpy compares primitives wrongly when they carry ``_element`` siblings
                # (ids, extensions), and none of our invariants looks at those: evaluate without.
                holds = _fhirpath(constraint["expression"])(self._plain(value))
        except Exception:
            self.issues.append(Issue(severity, "invariant", text + " (could not be evaluated on this input)", (place,)))
            return
        if not holds:
            self.issues.append(Issue(severity, "invariant", text, (place,)))

    # -- slices --------------------------------------------------------------------
    def _slices(self) -> list[_Slice]:
        slices: dict[str, _Slice] = {}
        for element in self.elements:
            element_id = element["id"]
            if ":" not in element_id:
                continue
            head, _, rest = element_id.partition(":")
            name, _, child = rest.partition(".")
            key = f"{head}:{name}"
            current = slices.get(key) or _Slice(head, name, {}, [])
            if child:
                current.children.append(element)
            else:
                current = _Slice(head, name, element, current.children)
            slices[key] = current
        return list(slices.values())

    def _slice(self, found: _Slice, value: Any, root: str, where: str) -> None:
        parents_path, _, name = found.base[len(root) :].lstrip(".").rpartition(".")
        parents = _descend([(value, where)], parents_path) if parents_path else [(value, where)]
        discriminator = self.slicing.get(found.base, {}).get("discriminator", [{}])[0]
        for parent, parent_where in parents:
            members = [m for m in _children(parent, name, parent_where) if self._in_slice(found, discriminator, m[0])]
            self._cardinality(found.root, members, f"{parent_where}.{name}")
            for member in members:
                for child in found.children:
                    self._element(child, [member], found.base)
                for extension in _extension_profiles(found.root):
                    self.issues += _Checker(extension).check_at(member[0], "Extension", member[1])

    def _in_slice(self, found: _Slice, discriminator: dict[str, Any], value: Any) -> bool:
        extensions = _extension_profiles(found.root)
        if extensions:
            return isinstance(value, dict) and value.get("url") in {e["url"] for e in extensions}
        for key, expected in found.root.items():
            if key.startswith(("pattern", "fixed")):
                return _matches(value, expected)
        path = discriminator.get("path", "$this")
        for child in found.children:
            if child["path"] == f"{found.base}.{path}":
                for key, expected in child.items():
                    if key.startswith(("pattern", "fixed")):
                        return isinstance(value, dict) and _matches(value.get(path), expected)
        return False

    def _error(self, code: str, message: str, where: str) -> None:
        self.issues.append(Issue("error", code, message, (where,)))


# -- helpers ---------------------------------------------------------------------------
def _children(parent: Any, name: str, where: str) -> list[Found]:
    if not isinstance(parent, dict):
        return []
    if name.endswith("[x]"):
        stem = name[:-3]
        keys = [k for k in parent if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()]
    else:
        keys = [name] if name in parent else []
    found: list[Found] = []
    for key in keys:
        value = parent[key]
        if isinstance(value, list):
            found.extend((item, f"{where}.{key}[{index}]") for index, item in enumerate(value))
        else:
            found.append((value, f"{where}.{key}"))
    return found


def _descend(scope: list[Found], path: str) -> list[Found]:
    found = scope
    for name in path.split("."):
        found = [child for value, where in found for child in _children(value, name, where)]
    return found


def _matches(value: Any, pattern: Any) -> bool:
    """R4 pattern[x]: every element of the pattern is present with the same value."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(_matches(value.get(k), v) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_matches(item, p) for item in value) for p in pattern)
    return bool(value == pattern)


def _codings(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and "coding" in value:
        return [c for c in value["coding"] if isinstance(c, dict)]
    if isinstance(value, dict) and "code" in value:
        return [value]
    return []


def _extension_profiles(element: dict[str, Any]) -> list[dict[str, Any]]:
    """The StructureDefinitions of the extensions an extension slice admits (ours only)."""
    found = []
    for type_entry in element.get("type", []):
        if type_entry.get("code") == "Extension":
            for url in type_entry.get("profile", []):
                definition = registry().resolve(url)
                if definition is not None:
                    found.append(definition)
    return found


def _profiled_type(url: str) -> str:
    if url.startswith(BASE_PREFIX):
        return url[len(BASE_PREFIX) :]
    profile = registry().resolve(url)
    return str(profile.get("type")) if profile else url.rsplit("/", 1)[-1]


def _show(value: Any) -> str:
    if isinstance(value, dict) and "coding" in value:
        return " or ".join(f"{c.get('system')}#{c.get('code')}" for c in value["coding"])
    return repr(value)


_LEADING_NAME = re.compile(r"^\(?([a-z][A-Za-z0-9]*)")


def _focus(expression: str, where: str) -> str:
    """Where an invariant points: ``CarePlan.activity`` for ``activity.detail…`` on CarePlan."""
    match = _LEADING_NAME.match(expression)
    if match and match.group(1) not in ("matches", "exists", "empty", "where"):
        return f"{where}.{match.group(1)}"
    return where


def _without_primitive_extensions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_primitive_extensions(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_without_primitive_extensions(v) for v in value]
    return value


@cache
def _fhirpath(expression: str) -> Callable[[Any], bool]:
    from fhirpathpy import compile as fhirpath_compile
    from fhirpathpy.models import models

    compiled = fhirpath_compile(expression, models["r4"])

    def holds(value: Any) -> bool:
        result = compiled(value, {})
        return result == [True] or result == []  # an empty result does not contradict

    return holds

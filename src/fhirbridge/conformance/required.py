"""The profiles a resource is held to whether it claims them or not: the deployment's rules in
``profiles/rules/required-profiles.json`` (a patient contract, a contract offered and declined),
so that the validator knows its profiles from the profiles folder, not from the contract's code.

A rule names a resource type, codings the resource must carry (in a top-level CodeableConcept
element, such as ``category``) and extensions it must carry (by URL); the first rule that
matches gives the profile (FHIR R4 profiling.html: a server may hold resources to profiles
they do not claim).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fhirbridge.conformance.registry import profiles_directory

RULES_FILE = "rules/required-profiles.json"


@dataclass(frozen=True)
class RequiredProfile:
    """One rule: resources of ``resource_type`` carrying every coding (element, system, code)
    and every extension URL are held to ``profile``."""

    resource_type: str
    codings: tuple[tuple[str, str, str], ...]
    extensions: tuple[str, ...]
    profile: str

    def matches(self, resource: dict[str, Any]) -> bool:
        if resource.get("resourceType") != self.resource_type:
            return False
        if not all(_has_coding(resource.get(element), system, code) for element, system, code in self.codings):
            return False
        urls = {e.get("url") for e in _dicts(resource.get("extension"))}
        return all(url in urls for url in self.extensions)


def _dicts(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _has_coding(element: Any, system: str, code: str) -> bool:
    return any(
        coding.get("system") == system and coding.get("code") == code
        for concept in _dicts(element)
        for coding in _dicts(concept.get("coding"))
    )


@lru_cache(maxsize=1)
def required_profiles() -> tuple[RequiredProfile, ...]:
    """The rules, in the order they are tried."""
    document = json.loads((profiles_directory() / RULES_FILE).read_text(encoding="utf-8"))
    return tuple(
        RequiredProfile(
            rule["resourceType"],
            tuple((c["element"], c["system"], c["code"]) for c in rule.get("codings", [])),
            tuple(rule.get("extensions", [])),
            rule["profile"],
        )
        for rule in document["rules"]
    )


def required_profile(resource: dict[str, Any]) -> str | None:
    """The profile the first matching rule holds ``resource`` to, or None."""
    return next((rule.profile for rule in required_profiles() if rule.matches(resource)), None)

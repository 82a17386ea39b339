"""The conformance resources that come with the server: profiles, extensions, code systems,
value sets, operation definitions, search parameters and questionnaires, read once from
``profiles/*.json``.

They are built from FSH by ``scripts/build_profiles.py`` (StructureDefinitions with
differential and snapshot, the Questionnaires) or written by hand (OperationDefinitions).  The API serves them
read-only (R4 http.html#read, #search: ``url``, ``_id``, ``name``); validation looks profiles
and value sets up here by canonical URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fhirbridge
from fhirbridge.fhir.jsonio import dumps

CONFORMANCE_TYPES = (
    "StructureDefinition",
    "CodeSystem",
    "ValueSet",
    "OperationDefinition",
    "SearchParameter",
    "Questionnaire",
)


def profiles_directory() -> Path:
    """``profiles/``: packaged inside the wheel, or the repository's folder."""
    packaged = Path(fhirbridge.__file__).parent / "_profiles"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "profiles"


@dataclass(frozen=True)
class Registry:
    by_address: dict[tuple[str, str], dict[str, Any]]
    by_url: dict[str, dict[str, Any]]

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        return self.by_address.get((resource_type, resource_id))

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for (t, _), r in sorted(self.by_address.items()) if t == resource_type]

    def resolve(self, url: str) -> dict[str, Any] | None:
        """A resource by canonical URL, with or without ``|version``."""
        return self.by_url.get(url.split("|", 1)[0])

    def content(self, resource: dict[str, Any]) -> bytes:
        return dumps(resource)

    def codes(self, value_set_url: str) -> set[tuple[str, str]] | None:
        """(system, code) pairs of one of our ValueSets (``include`` of whole code systems or
        listed concepts); None when the value set is not ours."""
        value_set = self.resolve(value_set_url)
        if value_set is None or value_set.get("resourceType") != "ValueSet":
            return None
        found: set[tuple[str, str]] = set()
        for include in value_set.get("compose", {}).get("include", []):
            system = include.get("system", "")
            if include.get("concept"):
                found.update((system, concept["code"]) for concept in include["concept"])
                continue
            code_system = self.resolve(system)
            if code_system is not None:
                found.update((system, concept["code"]) for concept in _concepts(code_system.get("concept", [])))
        return found


def _concepts(concepts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for concept in concepts:
        flat.append(concept)
        flat.extend(_concepts(concept.get("concept", [])))
    return flat


@lru_cache(maxsize=1)
def registry() -> Registry:
    by_address: dict[tuple[str, str], dict[str, Any]] = {}
    by_url: dict[str, dict[str, Any]] = {}
    for path in sorted(profiles_directory().glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        by_address[(resource["resourceType"], resource["id"])] = resource
        if "url" in resource:
            by_url[resource["url"]] = resource
    return Registry(by_address, by_url)

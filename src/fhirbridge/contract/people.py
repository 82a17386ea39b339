"""Who a reference stands for, in words: the person behind a role, and a display name.

Pure helpers over resources already read (``resolved``: resources by local reference, as
:mod:`fhirbridge.contract.care_network` loads them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Resources = Mapping[str, dict[str, Any]]


def person_of(resource: dict[str, Any] | None, resolved: Resources) -> dict[str, Any] | None:
    """The Practitioner behind a PractitionerRole when it was read, else the resource itself."""
    if resource is not None and resource.get("resourceType") == "PractitionerRole":
        return resolved.get(str((resource.get("practitioner") or {}).get("reference"))) or resource
    return resource


def display_name(resource: dict[str, Any] | None) -> str | None:
    """An Organization's name, or a person's first HumanName (its text, else given and family)."""
    name = (resource or {}).get("name")
    if isinstance(name, str):
        return name or None
    for human in name or []:
        if human.get("text"):
            return str(human["text"])
        text = " ".join(part for part in [*human.get("given", []), human.get("family", "")] if part)
        if text:
            return text
    return None

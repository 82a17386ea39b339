"""The revision trail of a contract: each version, who made it, and what changed (issue 4).

A contract is revised by each caregiver along the way (hospital, primary care, the
municipality).  :func:`differences` describes what one version changed against the one
before, in lines a clinician can read (``status: draft → active``, ``activity[2] added:
Promenad 30 minuter``); :func:`revision_parameters` puts each version, its Provenance and its
changes into the Parameters answer of ``$revisions`` (R4 parameters.html).

Pure: the caller fetches the versions and Provenances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirbridge.fhir.instants import format_instant

SERVER_ELEMENTS = frozenset({"meta", "text"})
"""Elements the server or a renderer fills in: their changes are not the author's."""
MAX_CHANGES = 50
MAX_TEXT = 80
_LABELS = ("display", "text", "description", "title", "name", "reference", "value", "code")


@dataclass(frozen=True)
class Revision:
    version: int
    last_updated: int
    action: str
    changes: list[str]
    provenance: dict[str, Any] | None


def differences(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """Readable lines for what changed from ``before`` to ``after`` (None: not there)."""
    if before is None and after is None:
        return []
    if before is None:
        return ["created"]
    if after is None:
        return ["deleted"]
    lines: list[str] = []
    _compare(_authored(before), _authored(after), "", lines)
    if len(lines) > MAX_CHANGES:
        lines = [*lines[:MAX_CHANGES], f"… and {len(lines) - MAX_CHANGES} more changes"]
    return lines


def _authored(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key not in SERVER_ELEMENTS}


def _compare(old: Any, new: Any, path: str, lines: list[str]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            where = f"{path}.{key}" if path else key
            if key not in new:
                lines.append(f"{where} removed: {_label(old[key])}")
            elif key not in old:
                lines.append(f"{where} added: {_label(new[key])}")
            else:
                _compare(old[key], new[key], where, lines)
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            where = f"{path}[{index}]"
            if index >= len(new):
                lines.append(f"{where} removed: {_label(old[index])}")
            elif index >= len(old):
                lines.append(f"{where} added: {_label(new[index])}")
            else:
                _compare(old[index], new[index], where, lines)
    else:
        lines.append(f"{path}: {_label(old)} → {_label(new)}")


def _label(value: Any) -> str:
    """A short human description of a value: the first text-like element of a structure."""
    if isinstance(value, dict):
        for key in _LABELS:
            if key in value and not isinstance(value[key], dict | list):
                return _short(str(value[key]))
        for nested in value.values():
            if isinstance(nested, dict | list):
                return _label(nested)
        return _short(", ".join(str(v) for v in value.values())) if value else "{}"
    if isinstance(value, list):
        return _label(value[0]) if len(value) == 1 else f"{len(value)} items"
    return _short(str(value))


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def revision_parameters(revisions: list[Revision]) -> dict[str, Any]:
    """One ``revision`` parameter per version, oldest first."""
    parameters = []
    for revision in revisions:
        parts: list[dict[str, Any]] = [
            {"name": "version", "valueInteger": revision.version},
            {"name": "lastUpdated", "valueInstant": format_instant(revision.last_updated)},
            {"name": "action", "valueCode": revision.action},
        ]
        provenance = revision.provenance or {}
        for agent in provenance.get("agent", [])[:1]:
            parts.append({"name": "who", "valueReference": agent["who"]})
            if "onBehalfOf" in agent:
                parts.append({"name": "onBehalfOf", "valueReference": agent["onBehalfOf"]})
        if "activity" in provenance:
            parts.append({"name": "activity", "valueCodeableConcept": provenance["activity"]})
        parts += [{"name": "change", "valueString": line} for line in revision.changes]
        parameters.append({"name": "revision", "part": parts})
    return {"resourceType": "Parameters", "parameter": parameters} if parameters else {"resourceType": "Parameters"}

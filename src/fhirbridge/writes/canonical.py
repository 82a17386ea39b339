"""Canonical stored JSON: the bytes a read serves, built once per write.

The server owns ``id``, ``meta.versionId`` and ``meta.lastUpdated`` (R4 http.html#create,
resource.html#Meta); they lead the object after ``resourceType`` so that a person reading
the JSON sees them first.  Everything else is kept as the client sent it, after validation.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.fhir.instants import format_instant
from fhirbridge.fhir.jsonio import dumps

SERVER_META = ("versionId", "lastUpdated")


def with_server_fields(resource: dict[str, Any], resource_id: str, version: int, last_updated: int) -> dict[str, Any]:
    meta = {key: value for key, value in (resource.get("meta") or {}).items() if key not in SERVER_META}
    rest = {key: value for key, value in resource.items() if key not in ("resourceType", "id", "meta")}
    return {
        "resourceType": resource["resourceType"],
        "id": resource_id,
        "meta": {"versionId": str(version), "lastUpdated": format_instant(last_updated), **meta},
        **rest,
    }


def canonical_bytes(resource: dict[str, Any]) -> bytes:
    return dumps(resource)


def same_content(stored: dict[str, Any], proposed: dict[str, Any]) -> bool:
    """True when two versions differ only in the fields the server sets."""

    def strip(resource: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in SERVER_META}
        out = {k: v for k, v in resource.items() if k not in ("meta", "id")}
        if meta:
            out["meta"] = meta
        return out

    return strip(stored) == strip(proposed)

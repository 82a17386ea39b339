"""What ``/openapi.json`` says of each FHIR route: its path parameters, the result parameters
and headers of its interaction (R4 http.html, search.html#return), and its body.

The search parameters of each type are listed in the CapabilityStatement (``/fhir/metadata``),
not here; this document names what every client of an interaction may send, so that generic
tools (and the fuzz tests) exercise them.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.fhir.json_patch import MEDIA_TYPE as JSON_PATCH
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest.routes import Route

ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
"""R4 datatypes.html#id."""

Schema = dict[str, Any]
_STRING: Schema = {"type": "string"}
_FORMAT: dict[str, Schema] = {
    "_format": {"type": "string", "enum": ["json", "application/json", "application/fhir+json"]},
    "_pretty": {"type": "string", "enum": ["true", "false"]},
}
_SHAPE: dict[str, Schema] = {
    "_summary": {"type": "string", "enum": ["true", "false", "text", "data", "count"]},
    "_elements": _STRING,
}
_SEARCH: dict[str, Schema] = {
    "_id": _STRING,
    "_lastUpdated": _STRING,
    "_count": {"type": "integer"},
    "_sort": _STRING,
    "_include": _STRING,
    "_revinclude": _STRING,
    "_total": {"type": "string", "enum": ["none", "estimate", "accurate"]},
    **_SHAPE,
}
_HISTORY: dict[str, Schema] = {
    "_count": {"type": "integer"},
    "_since": _STRING,
    "_sort": {"type": "string", "enum": ["_lastUpdated", "-_lastUpdated"]},
    "_cursor": _STRING,
}
_CRITERIA: dict[str, Schema] = {"identifier": _STRING, "_id": _STRING}
_VALIDATE: dict[str, Schema] = {"mode": {"type": "string", "enum": ["create", "update", "delete"]}, "profile": _STRING}

_SYSTEM_SEARCH: dict[str, Schema] = {
    "_type": _STRING,
    **dict.fromkeys(("_id", "_lastUpdated", "_tag", "_profile", "_security", "_sort"), _STRING),
    "_count": {"type": "integer"},
    **_SHAPE,
}
_QUERY: dict[str, dict[str, Schema]] = {
    "search-type": _SEARCH,
    "search-system": _SYSTEM_SEARCH,
    "history-system": _HISTORY,
    "history-type": _HISTORY,
    "history-instance": _HISTORY,
    "read": _SHAPE,
    "vread": _SHAPE,
}
_HEADERS: dict[str, tuple[str, ...]] = {
    "create": ("If-None-Exist", "Prefer", "X-Provenance"),
    "update": ("If-Match", "Prefer", "X-Provenance"),
    "patch": ("If-Match", "Prefer", "X-Provenance"),
    "delete": ("If-Match", "X-Provenance"),
    "transaction": ("Prefer", "X-Provenance"),
    "read": ("If-None-Match", "If-Modified-Since"),
}


def _parameter(name: str, where: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema}


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    found = []
    if "{type}" in route.path:
        found.append(_parameter("type", "path", {"type": "string", "enum": list(STORED_TYPES)}, required=True))
    if "{id}" in route.path:
        found.append(_parameter("id", "path", {"type": "string", "pattern": ID_PATTERN}, required=True))
    if "{vid}" in route.path:
        found.append(_parameter("vid", "path", {"type": "string", "pattern": r"^[1-9][0-9]{0,8}$"}, required=True))
    return found


def _query(route: Route) -> dict[str, Schema]:
    if route.operation == "validate":
        return _VALIDATE
    if route.method == "POST" and route.interaction == "search-type":
        return {}  # _search takes its parameters as a form body
    if route.conditional and route.method in ("PUT", "PATCH", "DELETE"):
        return _CRITERIA
    return _QUERY.get(route.interaction, {})


def openapi_extra(route: Route) -> dict[str, Any]:
    """The OpenAPI operation fields of ``route`` beyond its summary."""
    parameters = _path_parameters(route)
    parameters += [_parameter(name, "query", schema) for name, schema in {**_query(route), **_FORMAT}.items()]
    if route.operation is None:
        parameters += [_parameter(name, "header", _STRING) for name in _HEADERS.get(route.interaction, ())]
    extra: dict[str, Any] = {"parameters": parameters}
    if route.interaction == "patch":
        operation = {
            "type": "object",
            "required": ["op", "path"],
            "properties": {
                "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
                "path": _STRING,
                "from": _STRING,
                "value": {},
            },
        }
        schema = {"type": "array", "items": operation}
        extra["requestBody"] = {"required": True, "content": {JSON_PATCH: {"schema": schema}}}
    elif route.takes_body:
        resource = {
            "type": "object",
            "required": ["resourceType"],
            "properties": {"resourceType": _STRING, "id": _STRING, "meta": {"type": "object"}},
        }
        extra["requestBody"] = {"required": True, "content": {"application/fhir+json": {"schema": resource}}}
    return extra

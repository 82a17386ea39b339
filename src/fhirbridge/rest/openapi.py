"""``/openapi.json``: one OpenAPI operation per route of the route table and resource type it
serves (R4 http.html#summary), with the search parameters of each type from the same registry
as the CapabilityStatement (:mod:`fhirbridge.search.parameters`), the bearer security scheme
and OperationOutcome error answers (:mod:`.openapi_components`).

A route with ``{type}`` is listed once per type that answers it: write interactions not on
the types only the server writes, an operation only on the types it is defined for, so that
the document advertises nothing that answers 404 or 405.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhirbridge.access.compartment import SERVER_WRITTEN
from fhirbridge.config import Settings
from fhirbridge.conformance.registry import registry
from fhirbridge.fhir.json_patch import MEDIA_TYPE as JSON_PATCH
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest import openapi_components as parts
from fhirbridge.rest.interactions import conformance
from fhirbridge.rest.interactions.search_system import COMMON_PARAMETERS
from fhirbridge.rest.routes import ROUTES, Route
from fhirbridge.search.parameters import search_parameters

FHIR_PREFIX = "/fhir"
ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
"""R4 datatypes.html#id."""
WRITES = frozenset({"create", "update", "patch", "delete"})

Schema = dict[str, Any]
_STRING: Schema = {"type": "string"}
_FORMAT: dict[str, Schema] = {
    "_format": {
        "type": "string",
        "enum": ["json", "application/json", "application/fhir+json", "xml", "application/xml", "application/fhir+xml"],
    },
    "_pretty": {"type": "string", "enum": ["true", "false"]},
}
_SHAPE: dict[str, Schema] = {
    "_summary": {"type": "string", "enum": ["true", "false", "text", "data", "count"]},
    "_elements": _STRING,
}
RESULT_PARAMETERS: dict[str, Schema] = {
    "_count": {"type": "integer"},
    "_sort": _STRING,
    "_include": _STRING,
    "_revinclude": _STRING,
    "_total": {"type": "string", "enum": ["none", "estimate", "accurate"]},
    **_SHAPE,
}
"""Search result parameters (R4 search.html#return): not search parameters of a type."""
_HISTORY: dict[str, Schema] = {
    "_count": {"type": "integer"},
    "_since": _STRING,
    "_sort": {"type": "string", "enum": ["_lastUpdated", "-_lastUpdated"]},
    "_cursor": _STRING,
}
_CRITERIA: dict[str, Schema] = {"identifier": _STRING, "_id": _STRING}
_VALIDATE: dict[str, Schema] = {"mode": {"type": "string", "enum": ["create", "update", "delete"]}, "profile": _STRING}
_EVERYTHING: dict[str, Schema] = {
    "_since": {"type": "string", "format": "date-time"},
    "_type": _STRING,
    "_count": {"type": "integer", "minimum": 0},
    "_cursor": _STRING,
}
"""Patient/[id]/$everything's parameters (:mod:`fhirbridge.rest.operations.everything`)."""
_SYSTEM_SEARCH: dict[str, Schema] = {
    "_type": _STRING,
    **dict.fromkeys(sorted(COMMON_PARAMETERS), _STRING),
    "_sort": _STRING,
    "_count": {"type": "integer"},
    **_SHAPE,
}
_EXPORT: dict[str, Schema] = dict.fromkeys(("_outputFormat", "_type", "_since", "_typeFilter"), _STRING)
"""Bulk Data kick-off parameters (export.html#query-parameters)."""
_QUERY: dict[str, dict[str, Schema]] = {
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
_SUCCESS: dict[str, dict[str, str]] = {
    "read": {"200": "Resource", "304": ""},
    "vread": {"200": "Resource"},
    "create": {"201": "Resource", "200": "Resource"},
    "update": {"200": "Resource", "201": "Resource"},
    "patch": {"200": "Resource"},
    "delete": {"204": "", "200": "OperationOutcome"},
    "search-type": {"200": "Bundle"},
    "search-system": {"200": "Bundle"},
    "history-system": {"200": "Bundle"},
    "history-type": {"200": "Bundle"},
    "history-instance": {"200": "Bundle"},
    "transaction": {"200": "Bundle"},
    "capabilities": {"200": "Resource", "304": ""},
    "operation": {"200": "Resource"},
}
_ERRORS: dict[str, tuple[str, ...]] = {
    "read": ("404", "410"),
    "vread": ("404", "410"),
    "create": ("409", "412", "413", "415", "422"),
    "update": ("409", "412", "413", "415", "422"),
    "patch": ("404", "409", "412", "413", "415", "422"),
    "delete": ("404", "409", "412"),
    "history-instance": ("404", "410"),
    "transaction": ("409", "412", "413", "415", "422"),
    "operation": ("404", "409", "413", "415", "422"),
}
_PUBLIC_ERRORS = ("400", "406", "500", "503")
_GUARDED_ERRORS = ("401", "403", "429")


def _parameter(name: str, where: str, schema: Schema, *, required: bool = False, about: str = "") -> Schema:
    found = {"name": name, "in": where, "required": required, "schema": schema}
    if about:
        found["description"] = about
    return found


def served_types(route: Route) -> Iterator[str | None]:
    """The resource types ``route`` answers for (None: a system-level route)."""
    if route.conformance:
        if route.fixed_type is not None and registry().of_type(route.fixed_type):
            yield route.fixed_type
    elif route.fixed_type is not None:
        yield route.fixed_type
    elif "{type}" not in route.path:
        yield None
    else:
        for resource_type in STORED_TYPES:
            if route.operation is not None and resource_type not in route.operation_types:
                continue
            if route.operation is None and route.interaction in WRITES and resource_type in SERVER_WRITTEN:
                continue
            yield resource_type


def search_query(route: Route, resource_type: str) -> list[Schema]:
    """The query parameters of a type's search: its search parameters (as the CapabilityStatement
    lists them), then the result parameters (R4 search.html#return)."""
    if route.conformance:
        return [_parameter(name, "query", _STRING) for name in conformance.SEARCH_PARAMETERS] + [
            _parameter("_count", "query", {"type": "integer"}),
            _parameter("_summary", "query", _SHAPE["_summary"]),
        ]
    searched = [
        _parameter(code, "query", _STRING, about=f"{param.type}: {param.description}")
        for code, param in search_parameters(resource_type).items()
    ]
    return searched + [_parameter(name, "query", schema) for name, schema in RESULT_PARAMETERS.items()]


def _path_parameters(route: Route) -> list[Schema]:
    found = []
    if "{id}" in route.path:
        found.append(_parameter("id", "path", {"type": "string", "pattern": ID_PATTERN}, required=True))
    if "{vid}" in route.path:
        found.append(_parameter("vid", "path", {"type": "string", "pattern": r"^[1-9][0-9]{0,8}$"}, required=True))
    return found


def _query(route: Route, resource_type: str | None) -> list[Schema]:
    if route.operation == "validate":
        named = _VALIDATE
    elif route.operation == "everything":
        named = _EVERYTHING
    elif route.operation == "export":
        named = _EXPORT
    elif route.interaction == "search-type" and resource_type is not None:
        return [] if route.method == "POST" else search_query(route, resource_type)
    elif route.conditional and route.method in ("PUT", "PATCH", "DELETE"):
        named = _CRITERIA
    else:
        named = _QUERY.get(route.interaction, {})
    return [_parameter(name, "query", schema) for name, schema in named.items()]


def _request_body(route: Route, resource_type: str | None) -> Schema | None:
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
        json_patch = {JSON_PATCH: {"schema": {"type": "array", "items": operation}}}
        return {"required": True, "content": {**json_patch, **parts.body("Resource")}}  # or a FHIRPath Patch
    if route.interaction == "search-type" and route.method == "POST" and resource_type is not None:
        fields = {p["name"]: p["schema"] for p in search_query(route, resource_type)}
        form = {"type": "object", "properties": fields}
        return {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": form}}}
    if route.takes_body:
        kind = "Bundle" if route.interaction == "transaction" else "Resource"
        return {"required": route.operation != "everything", "content": parts.body(kind)}  # its Parameters are optional
    return None


def _responses(route: Route, public: bool) -> dict[str, Schema]:
    answers: dict[str, Schema] = {}
    success = {"202": ""} if route.operation == "export" else _SUCCESS.get(route.interaction, {"200": "Resource"})
    for status, schema in success.items():
        answers[status] = {"description": "OK"} if not schema else {"description": "OK", "content": parts.body(schema)}
    errors = (*_PUBLIC_ERRORS, *_ERRORS.get(route.interaction, ()), *(() if public else _GUARDED_ERRORS))
    for status in sorted(errors):
        answers[status] = parts.error_reference(status)
    return answers


def operation(route: Route, resource_type: str | None, settings: Settings) -> Schema:
    """The OpenAPI operation of ``route`` for one resource type (None: system level)."""
    public = route.conformance or route.interaction == "capabilities"
    what = (route.operation or route.interaction).replace("-", "_")
    typed = f"_{resource_type}" if resource_type else ""
    parameters = _path_parameters(route) + _query(route, resource_type)
    parameters += [_parameter(name, "query", schema) for name, schema in _FORMAT.items()]
    if route.operation is None:
        parameters += [_parameter(name, "header", _STRING) for name in _HEADERS.get(route.interaction, ())]
    elif route.operation == "export":  # an asynchronous kick-off: 202 and the status URL in Content-Location
        parameters.append(_parameter("Prefer", "header", _STRING, required=True, about="respond-async"))
    found: Schema = {
        "tags": [resource_type or "system"],
        "summary": route.summary,
        "operationId": f"{route.method.lower()}_{what}_{route.level}{typed}",
        "parameters": parameters,
        "responses": _responses(route, public),
    }
    request_body = _request_body(route, resource_type)
    if request_body is not None:
        found["requestBody"] = request_body
    if public or settings.auth == "off":
        found["security"] = []
    else:
        found["security"] = [{parts.BEARER: []}]
    return found


def fhir_paths(settings: Settings) -> dict[str, dict[str, Schema]]:
    """``paths`` of the FHIR API, each route once per type it serves."""
    paths: dict[str, dict[str, Schema]] = {}
    for route in ROUTES:
        for resource_type in served_types(route):
            path = FHIR_PREFIX + route.path.replace("{type}", resource_type or "")
            paths.setdefault(path, {})[route.method.lower()] = operation(route, resource_type, settings)
    return paths


def openapi_document(base: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``base`` (FastAPI's document of its own routes) with the FHIR API added."""
    document = dict(base)
    document["paths"] = {**fhir_paths(settings), **base.get("paths", {})}
    components = dict(document.get("components", {}))
    for key, value in parts.components(settings).items():
        components[key] = {**components.get(key, {}), **value}
    document["components"] = components
    return document

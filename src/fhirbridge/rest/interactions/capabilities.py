"""The CapabilityStatement (R4 capabilitystatement.html, http.html#capabilities).

Generated from the route table, the stored types and the search parameters the search
engine uses, so it says exactly what exists.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fhirbridge import FHIR_VERSION, __version__
from fhirbridge.access.compartment import SERVER_WRITTEN
from fhirbridge.config import Settings
from fhirbridge.conformance.registry import CONFORMANCE_TYPES, registry
from fhirbridge.fhir.jsonio import dumps
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.notifications import topics
from fhirbridge.rest.interactions import conformance
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.search.parameters import COLUMN_PARAMETERS, search_parameters

RELEASE_DATE = "2026-11-22"
_WRITES = frozenset({"create", "update", "delete", "patch"})


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    out = []
    for code, param in search_parameters(resource_type).items():
        entry: dict[str, Any] = {"name": code, "definition": param.url, "type": param.type}
        if param.description and code not in COLUMN_PARAMETERS:
            entry["documentation"] = param.description.replace("\r\n", "\n")
        out.append(entry)
    return out


def _system_search_params() -> list[dict[str, Any]]:
    """``rest.searchParam``: the parameters of every resource, served across types by
    ``GET [base]?_type=…`` (:mod:`.search_system`)."""
    from fhirbridge.rest.interactions.search_system import COMMON_PARAMETERS

    params = search_parameters("Patient")
    return [
        {"name": code, "definition": params[code].url, "type": params[code].type} for code in sorted(COMMON_PARAMETERS)
    ]


def _without_empty(entry: dict[str, Any]) -> dict[str, Any]:
    """FHIR JSON has no empty arrays."""
    return {key: value for key, value in entry.items() if value != [] and value is not None}


def _includes(resource_type: str) -> list[str]:
    return [f"{resource_type}:{code}" for code, p in search_parameters(resource_type).items() if p.type == "reference"]


def _revincludes(resource_type: str) -> list[str]:
    return [
        f"{source}:{code}"
        for source in STORED_TYPES
        for code, p in search_parameters(source).items()
        if p.type == "reference" and (resource_type in p.targets or "Resource" in p.targets)
    ]


def _operations(resource_type: str) -> list[dict[str, Any]]:
    """One entry per operation name (an operation served at several levels is listed once)."""
    from fhirbridge.rest.routes import operations

    listed: dict[str, dict[str, Any]] = {}
    for route in operations(resource_type):
        if route.operation is not None and route.operation not in listed:
            listed[route.operation] = {
                "name": route.operation,
                "definition": route.definition,
                "documentation": route.summary,
            }
    return list(listed.values())


def _system_operations() -> list[dict[str, Any]]:
    """The operations served at the server's base (Bulk Data ``$export``)."""
    from fhirbridge.rest.routes import system_operations

    return [
        {"name": route.operation, "definition": route.definition, "documentation": route.summary}
        for route in system_operations()
    ]


def _topics(resource_type: str) -> list[dict[str, Any]]:
    """On Subscription, the topics it may name (Subscriptions Backport IG, R4 CapabilityStatement)."""
    if resource_type != "Subscription":
        return []
    return [{"url": topics.TOPIC_CANONICAL_URL, "valueCanonical": url} for url in topics.TOPICS]


def _profiles_of(resource_type: str) -> list[str]:
    """Our profiles of a type: claimed in ``meta.profile`` they are enforced on every write."""
    return [sd["url"] for sd in registry().of_type("StructureDefinition") if sd.get("type") == resource_type]


def _conformance_search(resource_type: str) -> list[dict[str, Any]]:
    """The parameters :mod:`.conformance` searches by, with R4's definitions for the type
    (``conformance-url`` for a StructureDefinition, ``Questionnaire-url`` for a Questionnaire)."""
    params = search_parameters(resource_type)
    return [
        {"name": code, "type": params[code].type, "definition": params[code].url}
        for code in conformance.SEARCH_PARAMETERS
    ]


def _conformance_resources() -> list[dict[str, Any]]:
    return [
        {
            "type": resource_type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": _conformance_search(resource_type),
        }
        for resource_type in CONFORMANCE_TYPES
        if registry().of_type(resource_type)
    ]


SMART_SERVICE = {"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def _security(settings: Settings | None) -> dict[str, Any] | None:
    """``rest.security`` (R4 capabilitystatement-definitions.html#CapabilityStatement.rest.security):
    SMART on FHIR bearer tokens, unless authentication is off (development)."""
    if settings is None or settings.auth == "off":
        return None
    uris = [
        {"url": name, "valueUri": value}
        for name, value in (("authorize", settings.authorization_endpoint), ("token", settings.token_endpoint))
        if value
    ]
    security: dict[str, Any] = {
        "cors": bool(settings.cors_origins),
        "service": [{"coding": [SMART_SERVICE], "text": "OAuth2 bearer tokens (JWT) with SMART v1/v2 scopes"}],
        "description": "Every interaction needs a bearer token; see /fhir/.well-known/smart-configuration.",
    }
    if uris:
        security["extension"] = [{"url": OAUTH_URIS, "extension": uris}]
    return security


def capability_statement(base_url: str, settings: Settings | None = None) -> dict[str, Any]:
    """The server's CapabilityStatement for a given base URL."""
    # The route table imports this handler, so it is looked up when a statement is built.
    from fhirbridge.rest.routes import interactions, supports_conditional

    type_interactions = sorted(interactions("type") | interactions("instance"))
    resources = []
    for resource_type in STORED_TYPES:
        server_written = resource_type in SERVER_WRITTEN
        codes = [code for code in type_interactions if not (server_written and code in _WRITES)]
        resources.append(
            _without_empty(
                {
                    "type": resource_type,
                    "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
                    "supportedProfile": _profiles_of(resource_type),
                    "interaction": [{"code": code} for code in codes],
                    "versioning": "versioned-update",
                    "readHistory": True,
                    # a Subscription's id is the server's (notifications/owners.py)
                    "updateCreate": not server_written and resource_type != "Subscription",
                    "conditionalCreate": supports_conditional("create") and not server_written,
                    "conditionalRead": "full-support",
                    "conditionalUpdate": supports_conditional("update") and not server_written,
                    "conditionalDelete": "single"
                    if supports_conditional("delete") and not server_written
                    else "not-supported",
                    "referencePolicy": ["literal", "logical", "enforced", "local"],
                    "searchInclude": _includes(resource_type),
                    "searchRevInclude": _revincludes(resource_type),
                    "searchParam": _search_params(resource_type),
                    "operation": _operations(resource_type),
                    "extension": _topics(resource_type),
                }
            )
        )
    return {
        "resourceType": "CapabilityStatement",
        "id": "fhirbridge",
        "url": f"{base_url}/metadata",
        "version": __version__,
        "name": "FhirbridgeCapabilityStatement",
        "title": "fhirbridge: patient contracts (patientkontrakt) over FHIR R4",
        "status": "active",
        "experimental": False,
        "date": RELEASE_DATE,
        "publisher": "fhirbridge",
        "description": "FHIR R4 server for Swedish patient contracts: CarePlan, CareTeam and Goal "
        "with their people and places.",
        "kind": "instance",
        "software": {"name": "fhirbridge", "version": __version__},
        "implementation": {"description": "fhirbridge FHIR R4 server", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json", "application/fhir+xml", "xml"],
        # JSON Patch, and FHIRPath Patch (a Parameters) in either format; XML Patch is not applied
        "patchFormat": ["application/json-patch+json", "application/fhir+json", "application/fhir+xml"],
        "rest": [
            _without_empty(
                {
                    "mode": "server",
                    "security": _security(settings),
                    "documentation": "Every write is validated (structure, required bindings, reference types, "
                    "referential integrity, strings of at most 1 MB of UTF-8, ids of 1-64 A-Z a-z 0-9 - .); "
                    "rejections are OperationOutcomes naming the element. An update or delete of an id no "
                    "resource can have is 400, a read of one 404. Bodies need Content-Type "
                    "application/fhir+json or application/fhir+xml (or application/json, application/xml): 415 "
                    "otherwise; answers are in XML when Accept or _format asks for it. Every reference that can "
                    "name a patient is stored as Patient/[id] (an identifier is resolved to the one Patient "
                    "carrying it). With an access token, searches carry no total, _has is refused and chains "
                    "lead only to a resource's own patient or into the directory (docs/security.md).",
                    "resource": resources + _conformance_resources(),
                    "interaction": [{"code": code} for code in sorted(interactions("system") - {"capabilities"})],
                    "searchParam": _system_search_params(),
                    "operation": _system_operations(),
                }
            )
        ],
    }


async def capabilities(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """GET [base]/metadata, with an ETag that changes when the statement does."""
    body = dumps(capability_statement(request.base_url, ctx.settings))
    tag = f'W/"{hashlib.sha256(body).hexdigest()[:16]}"'
    if request.headers.get("if-none-match") == tag:
        return FhirResponse(304, headers={"ETag": tag})
    return FhirResponse(200, body=body, headers={"ETag": tag})

"""The reusable parts of ``/openapi.json``: the bearer security scheme, the FHIR resource
shapes an answer carries, and the OperationOutcome error answers (R4 operationoutcome.html,
http.html#summary: "the body SHALL be an OperationOutcome" for a refused interaction).

The schemas describe the FHIR JSON envelope a client can rely on (R4 json.html), not each
type's elements: those are in the StructureDefinitions the server serves
(``/fhir/StructureDefinition``) and the profiles named in the CapabilityStatement.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.config import Settings

Schema = dict[str, Any]
FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
_XML_SCHEMA: Schema = {"type": "string", "description": "The same resource in FHIR XML (R4 xml.html)"}
BEARER = "bearer"
"""The name of the security scheme."""

ERROR_STATUSES: dict[str, str] = {
    "400": "Malformed request or invalid resource: the issues name the offending element",
    "401": "No valid bearer token",
    "403": "The token's scopes or the access policy do not allow this",
    "404": "No such resource, or none the caller may know of",
    "405": "Not allowed on this resource type",
    "406": "The requested format is not served (JSON only)",
    "409": "Conflicting state: a reference to it remains, or a JSON Patch test failed",
    "410": "The resource is deleted",
    "412": "If-Match names another version, or the conditional criteria match several resources",
    "413": "The body is over the size limit",
    "415": "The body's Content-Type is not FHIR JSON",
    "422": "The resource breaks a profile or a business rule",
    "429": "Over the client's rate limit (Retry-After)",
    "500": "A server fault, logged under the incident number given",
    "503": "The database is unavailable (Retry-After)",
}

_CODING: Schema = {
    "type": "object",
    "properties": {"system": {"type": "string"}, "code": {"type": "string"}, "display": {"type": "string"}},
}
_META: Schema = {
    "type": "object",
    "properties": {
        "versionId": {"type": "string"},
        "lastUpdated": {"type": "string"},
        "profile": {"type": "array", "items": {"type": "string"}},
        "tag": {"type": "array", "items": _CODING},
        "security": {"type": "array", "items": _CODING},
    },
}
SCHEMAS: dict[str, Schema] = {
    "Resource": {
        "description": "Any FHIR R4 resource (R4 json.html); its elements are defined by its StructureDefinition",
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"}, "meta": _META},
    },
    "OperationOutcome": {
        "description": "Why a request was refused (R4 operationoutcome.html)",
        "type": "object",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": {"enum": ["fatal", "error", "warning", "information"]},
                        "code": {"type": "string"},
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "Bundle": {
        "description": "A searchset, history, batch-response or transaction-response Bundle (R4 bundle.html)",
        "type": "object",
        "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"const": "Bundle"},
            "type": {"type": "string"},
            "total": {"type": "integer"},
            "link": {
                "type": "array",
                "items": {"type": "object", "properties": {"relation": {"type": "string"}, "url": {"type": "string"}}},
            },
            "entry": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "fullUrl": {"type": "string"},
                        "resource": {"$ref": "#/components/schemas/Resource"},
                        "search": {"type": "object"},
                        "request": {"type": "object"},
                        "response": {"type": "object"},
                    },
                },
            },
        },
    },
}


def body(schema: str) -> Schema:
    """A FHIR JSON body of a schema of :data:`SCHEMAS`, or the same in FHIR XML."""
    return {FHIR_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}, FHIR_XML: {"schema": _XML_SCHEMA}}


def error_responses() -> dict[str, Schema]:
    """``components.responses``: one OperationOutcome answer per refusing status."""
    return {
        f"Error{status}": {"description": text, "content": body("OperationOutcome")}
        for status, text in ERROR_STATUSES.items()
    }


def error_reference(status: str) -> Schema:
    return {"$ref": f"#/components/responses/Error{status}"}


def security_schemes(settings: Settings) -> dict[str, Schema]:
    """The bearer scheme (RFC 6750, JWTs from a trusted issuer, SMART scopes), unless
    authentication is off, as ``rest.security`` of the CapabilityStatement says."""
    if settings.auth == "off":
        return {}
    return {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token (JWT) from a trusted issuer with SMART v1/v2 scopes; "
            "see /fhir/.well-known/smart-configuration",
        }
    }


def components(settings: Settings) -> dict[str, Any]:
    found: dict[str, Any] = {"schemas": SCHEMAS, "responses": error_responses()}
    schemes = security_schemes(settings)
    if schemes:
        found["securitySchemes"] = schemes
    return found

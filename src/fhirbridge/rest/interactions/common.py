"""Pieces shared by the interaction handlers: headers of a stored version, Prefer, bodies."""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import bad_request, not_found
from fhirbridge.fhir.instants import http_date
from fhirbridge.fhir.outcome import information
from fhirbridge.fhir.references import id_problem, is_valid_id
from fhirbridge.rest.messages import FhirRequest, FhirResponse, etag
from fhirbridge.storage.records import StoredResource
from fhirbridge.validation.pipeline import ValidatedResource, validate_resource


def version_headers(record: StoredResource) -> dict[str, str]:
    return {"ETag": etag(record.version), "Last-Modified": http_date(record.last_updated)}


def location(request: FhirRequest, record: StoredResource) -> str:
    return f"{request.base_url}/{record.resource_type}/{record.resource_id}/_history/{record.version}"


def require_id(resource_type: str, resource_id: str) -> None:
    """An id that cannot exist is simply not found by a read (R4 http.html#read); ``$name`` is
    an operation this server does not serve at the type level (``Patient/$everything``)."""
    if resource_id.startswith("$"):
        raise not_found(
            f"{resource_type}/{resource_id}: the operation {resource_id} is not served on all of {resource_type} "
            "(the CapabilityStatement lists the operations; some are served on one resource: "
            f"{resource_type}/[id]/{resource_id})"
        )
    if not is_valid_id(resource_id):
        raise not_found(f"{resource_type}/{resource_id} is not a valid id and does not exist")


def require_writable_id(resource_type: str, resource_id: str) -> None:
    """An update or delete naming an id that no resource can have is a malformed request
    (400), as it is in a transaction entry (R4 datatypes.html#id)."""
    problem = id_problem(resource_id)
    if problem is not None:
        raise bad_request(f"The URL's id {problem}", f"{resource_type}.id")


def parse_and_validate(request: FhirRequest, resource_type: str, url_id: str | None) -> ValidatedResource:
    body: Any = request.json_body()
    return validate_resource(body, resource_type, url_id=url_id, local_base=request.base_url)


def write_response(
    request: FhirRequest, status: int, record: StoredResource, message: str, *, versioned_location: bool = True
) -> FhirResponse:
    """The answer to a create or update, shaped by ``Prefer: return=`` (R4 http.html#ops)."""
    headers = version_headers(record)
    headers["Location"] = (
        location(request, record)
        if versioned_location
        else f"{request.base_url}/{record.resource_type}/{record.resource_id}"
    )
    preference = request.prefer.return_
    if preference == "minimal":
        return FhirResponse(status, headers=headers)
    if preference == "OperationOutcome":
        return FhirResponse(status, resource=information(message), headers=headers)
    return FhirResponse(status, body=record.content, headers=headers)

"""read and vread (R4 http.html#read, #vread), with conditional read (#cread)."""

from __future__ import annotations

from fhirbridge.errors import gone, not_found
from fhirbridge.fhir.instants import parse_http_date
from fhirbridge.rest.interactions.common import require_id, version_headers
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse, etag
from fhirbridge.storage.records import StoredResource


def _not_modified(request: FhirRequest, record: StoredResource) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return any(tag.strip() in (etag(record.version), f'"{record.version}"', "*") for tag in if_none_match.split(","))
    since = request.headers.get("if-modified-since")
    if since is not None:
        parsed = parse_http_date(since)
        return parsed is not None and record.last_updated // 1_000_000 <= parsed // 1_000_000
    return False


async def read(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    assert request.resource_type and request.resource_id
    require_id(request.resource_type, request.resource_id)
    record = await ctx.repository.read(request.identity, request.resource_type, request.resource_id)
    address = f"{request.resource_type}/{request.resource_id}"
    if record is None:
        raise not_found(f"{address} does not exist")
    if record.deleted:
        error = gone(f"{address} was deleted (version {record.version})")
        error.headers.update(version_headers(record))
        raise error
    headers = version_headers(record)
    if _not_modified(request, record):
        return FhirResponse(304, headers=headers)
    return FhirResponse(200, body=record.content, headers=headers)


async def vread(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    assert request.resource_type and request.resource_id and request.version_id is not None
    require_id(request.resource_type, request.resource_id)
    address = f"{request.resource_type}/{request.resource_id}/_history/{request.version_id}"
    if not request.version_id.isdigit():
        raise not_found(f"{address} does not exist: versions are numbers")
    record = await ctx.repository.vread(
        request.identity, request.resource_type, request.resource_id, int(request.version_id)
    )
    if record is None:
        raise not_found(f"{address} does not exist")
    if record.deleted:
        raise gone(f"{address} is the deletion of {request.resource_type}/{request.resource_id}")
    return FhirResponse(200, body=record.content, headers=version_headers(record))

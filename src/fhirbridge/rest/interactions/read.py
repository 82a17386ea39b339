"""read and vread (R4 http.html#read, #vread), with conditional read (#cread)."""

from __future__ import annotations

from fhirbridge.errors import gone, not_found
from fhirbridge.fhir.instants import parse_http_date
from fhirbridge.rest.interactions.common import require_id, version_headers
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse, etag
from fhirbridge.rest.shaping import Shape, shaped_content
from fhirbridge.storage.records import MAX_VERSION, StoredResource


def _not_modified(request: FhirRequest, record: StoredResource) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return any(
            tag.strip() in (etag(record.version), f'"{record.version}"', "*") for tag in if_none_match.split(",")
        )
    since = request.headers.get("if-modified-since")
    if since is not None:
        parsed = parse_http_date(since)
        return parsed is not None and record.last_updated // 1_000_000 <= parsed // 1_000_000
    return False


async def live_version(ctx: ServiceContext, request: FhirRequest) -> StoredResource:
    """The current version of the request's resource as the caller may see it (R4
    http.html#read): 404 when there is none they may know of, 410 when it was deleted."""
    resource_type, resource_id = request.address()
    require_id(resource_type, resource_id)
    record = await ctx.repository.read(request.identity, resource_type, resource_id)
    address = f"{resource_type}/{resource_id}"
    if record is None:
        raise not_found(f"{address} does not exist")
    if record.deleted or record.content is None:
        error = gone(f"{address} was deleted (version {record.version})")
        error.headers.update(version_headers(record))
        raise error
    return record


async def read(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    record = await live_version(ctx, request)
    headers = version_headers(record)
    if _not_modified(request, record):
        return FhirResponse(304, headers=headers)
    return FhirResponse(200, body=shaped_content(record, Shape.for_read(request.query)), headers=headers)


async def vread(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type, resource_id = request.address()
    require_id(resource_type, resource_id)
    version = request.version_id or ""
    address = f"{resource_type}/{resource_id}/_history/{version}"
    if not version.isdigit() or int(version) > MAX_VERSION:
        raise not_found(f"{address} does not exist: versions are numbers")
    record = await ctx.repository.vread(request.identity, resource_type, resource_id, int(version))
    if record is None:
        raise not_found(f"{address} does not exist")
    if record.deleted:
        raise gone(f"{address} is the deletion of {resource_type}/{resource_id}")
    body = shaped_content(record, Shape.for_read(request.query))
    return FhirResponse(200, body=body, headers=version_headers(record))

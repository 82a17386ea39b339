"""delete and conditional delete (R4 http.html#delete, #cdelete).

A deletion is a new version without content: read and search no longer find the resource
(read answers 410 Gone), and history keeps every version and the deletion.  Deleting what
other live resources still refer to is refused with 409, naming them.
"""

from __future__ import annotations

from fhirbridge.errors import bad_request
from fhirbridge.fhir.outcome import information
from fhirbridge.rest.interactions.common import require_writable_id
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse, etag
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult


def _respond(result: WriteResult, address: str) -> FhirResponse:
    if result.outcome == "deleted" and result.record is not None:
        return FhirResponse(204, headers={"ETag": etag(result.record.version)})
    return FhirResponse(200, resource=information(f"Nothing to delete: {address} does not exist or is already deleted"))


async def delete(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type, resource_id = request.address()
    if request.criteria():
        raise bad_request("DELETE [type]/[id] takes no search parameters", "url")
    require_writable_id(resource_type, resource_id)

    async def work(unit: UnitOfWork) -> WriteResult:
        return await unit.delete(resource_type, resource_id)

    result = await ctx.repository.write(request.identity, request.base_url, work)
    return _respond(result, f"{resource_type}/{resource_id}")


async def conditional_delete(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """DELETE [type]?criteria: one match is deleted, several are 412 (deletes one at a time)."""
    resource_type = request.type_name()
    criteria = request.criteria()
    if not criteria:
        raise bad_request("A conditional delete needs search criteria: DELETE [type]?identifier=system|value", "url")

    async def work(unit: UnitOfWork) -> WriteResult:
        found = await unit.find_one(
            resource_type,
            criteria,
            several=f"The criteria match several {resource_type} resources; this server deletes one at a time",
        )
        if found is None:
            return WriteResult("absent", None)
        return await unit.delete(resource_type, found)

    result = await ctx.repository.write(request.identity, request.base_url, work)
    return _respond(result, f"{resource_type} matching the criteria")

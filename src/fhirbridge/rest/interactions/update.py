"""update, update-as-create and conditional update (R4 http.html#update, #cond-update)."""

from __future__ import annotations

from fhirbridge.errors import bad_request
from fhirbridge.rest.interactions.common import require_writable_id, write_response
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult

_STATUS = {"created": 201, "updated": 200, "unchanged": 200}


def respond(request: FhirRequest, result: WriteResult) -> FhirResponse:
    """The answer to an update (or a patch, processed as one): 201 when it created, else 200."""
    record = result.record
    assert record is not None
    address = f"{record.resource_type}/{record.resource_id}"
    message = {
        "created": f"Created {address}",
        "updated": f"Updated {address} to version {record.version}",
        "unchanged": f"{address} already had this content; version {record.version} kept",
    }[result.outcome]
    return write_response(request, _STATUS[result.outcome], record, message)


async def update(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """PUT [type]/[id]: the body must carry the same id (R4 http.html#update)."""
    resource_type, resource_id = request.address()
    if request.criteria():
        raise bad_request("PUT to [type]/[id] takes no search parameters", "url")
    require_writable_id(resource_type, resource_id)
    body = request.json_body()
    validated = validate_resource(body, resource_type, url_id=resource_id, local_base=request.base_url)
    if_match = request.if_match()

    async def work(unit: UnitOfWork) -> WriteResult:
        return await unit.update(validated, resource_id, if_match=if_match)

    about = [(validated.resource_type, validated.resource)]
    return respond(request, await ctx.repository.write(request.identity, request.base_url, work, about=about))


async def conditional_update(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """PUT [type]?criteria: no match creates, one match updates, several are 412."""
    resource_type = request.type_name()
    criteria = request.criteria()
    if not criteria:
        raise bad_request("A conditional update needs search criteria: PUT [type]?identifier=system|value", "url")
    body = request.json_body()
    body_id = body.get("id") if isinstance(body, dict) else None
    if body_id is not None and not isinstance(body_id, str):
        raise bad_request("The resource id must be a string", f"{resource_type}.id")
    if_match = request.if_match()

    async def work(unit: UnitOfWork) -> WriteResult:
        target_id = await unit.conditional_update_target(resource_type, criteria, body_id)
        resource = dict(body) if isinstance(body, dict) else body
        if isinstance(resource, dict):
            resource["id"] = target_id
        validated = validate_resource(resource, resource_type, url_id=target_id, local_base=request.base_url)
        return await unit.update(validated, target_id, if_match=if_match)

    return respond(request, await ctx.repository.write(request.identity, request.base_url, work))

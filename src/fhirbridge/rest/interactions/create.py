"""create and conditional create (R4 http.html#create, #ccreate)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fhirbridge.errors import bad_request
from fhirbridge.rest.interactions.common import parse_and_validate, write_response
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult


def if_none_exist_criteria(request: FhirRequest) -> list[tuple[str, str]] | None:
    header = request.headers.get("if-none-exist")
    if header is None:
        return None
    query = header.split("?", 1)[1] if "?" in header else header
    criteria = parse_qsl(query, keep_blank_values=True)
    if not criteria:
        raise bad_request("If-None-Exist must hold search criteria such as identifier=system|value", "If-None-Exist")
    return criteria


async def create(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    validated = parse_and_validate(request, request.type_name(), None)
    criteria = if_none_exist_criteria(request)

    async def work(unit: UnitOfWork) -> WriteResult:
        if criteria is not None:
            found = await unit.create_match(validated.resource_type, criteria)
            if found is not None:  # answered as the caller sees it, as a read would answer it
                return WriteResult("existing", await unit.shown(validated.resource_type, found))
        return await unit.create(validated)

    about = [(validated.resource_type, validated.resource)]
    result = await ctx.repository.write(request.identity, request.base_url, work, about=about)
    record = result.record
    assert record is not None
    if result.outcome == "existing":
        return write_response(
            request,
            200,
            record,
            "An existing resource matched If-None-Exist; nothing was created",
            versioned_location=False,
        )
    return write_response(request, 201, record, f"Created {record.resource_type}/{record.resource_id}")

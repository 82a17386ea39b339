"""read and search of the conformance resources that come with the server (R4 http.html#read,
#search; conformance-module.html): StructureDefinition, CodeSystem, ValueSet,
OperationDefinition.  They are part of the software, not data: read-only, version 1, served
from :mod:`fhirbridge.conformance.registry`.  Search takes ``url``, ``_id`` and ``name``.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.conformance.registry import registry
from fhirbridge.errors import not_found
from fhirbridge.fhir.jsonio import dumps
from fhirbridge.rest import bundles
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse, etag

SEARCH_PARAMETERS = ("url", "_id", "name")


async def read(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type, resource_id = request.type_name(), request.resource_id or ""
    resource = registry().read(resource_type, resource_id)
    if resource is None:
        raise not_found(f"{resource_type}/{resource_id} does not exist")
    return FhirResponse(200, body=dumps(resource), headers={"ETag": etag(1)})


async def search(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type = request.type_name()
    wanted = {name: value for name, value in request.query if name in SEARCH_PARAMETERS}
    found = [r for r in registry().of_type(resource_type) if _matches(r, wanted)]
    entries = [bundles.SearchEntry(f"{request.base_url}/{resource_type}/{r['id']}", dumps(r), "match") for r in found]
    links = [("self", bundles.page_url(request.base_url, resource_type, list(wanted.items())))]
    return FhirResponse(200, body=bundles.searchset(entries, links, len(found), []))


def _matches(resource: dict[str, Any], wanted: dict[str, str]) -> bool:
    fields = {"url": resource.get("url"), "_id": resource.get("id"), "name": resource.get("name")}
    return all(str(fields[name]).split("|")[0] == value.split("|")[0] for name, value in wanted.items())

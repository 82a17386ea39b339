"""read and search of the conformance resources that come with the server (R4 http.html#read,
#search; conformance-module.html): StructureDefinition, CodeSystem, ValueSet,
OperationDefinition, SearchParameter, Questionnaire.  They are part of the software, not data:
read-only, version 1, served from :mod:`fhirbridge.conformance.registry`.

Search takes ``url`` (exact, ignoring ``|version``), ``_id`` (a comma list) and ``name``
(R4 string search: case-insensitive prefix; ``:exact``), and ``_count=0`` / ``_summary=count``.
Other parameters are ignored and reported, or refused under ``Prefer: handling=strict``, as on
every other search (R4 search.html#errors).
"""

from __future__ import annotations

from typing import Any

from fhirbridge.conformance.registry import registry
from fhirbridge.errors import Issue, bad_request, not_found
from fhirbridge.fhir.jsonio import dumps
from fhirbridge.rest import bundles
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse, etag
from fhirbridge.search.normalize import normalize_string

SEARCH_PARAMETERS = ("url", "_id", "name")
SEARCHED = (*SEARCH_PARAMETERS, "name:exact")
RESULT = ("_count", "_summary", "_format", "_pretty", "_total")


async def read(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type, resource_id = request.type_name(), request.resource_id or ""
    resource = registry().read(resource_type, resource_id)
    if resource is None:
        raise not_found(f"{resource_type}/{resource_id} does not exist")
    return FhirResponse(200, body=dumps(resource), headers={"ETag": etag(1)})


async def search(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type = request.type_name()
    criteria = [(name, value) for name, value in request.query if name in SEARCHED]
    ignored = [
        Issue("warning", "not-supported", f"Search parameter {name} is not supported for {resource_type}", (name,))
        for name, _ in request.query
        if name not in SEARCHED and name not in RESULT
    ]
    if ignored and request.prefer.strict:
        raise bad_request(ignored[0].diagnostics, *ignored[0].expression, code="not-supported")
    found = [r for r in registry().of_type(resource_type) if all(_matches(r, n, v) for n, v in criteria)]
    links = [("self", bundles.page_url(request.base_url, resource_type, criteria))]
    counting = request.query_value("_summary") == "count" or request.query_value("_count") == "0"
    entries = (
        []
        if counting
        else [bundles.SearchEntry(f"{request.base_url}/{resource_type}/{r['id']}", dumps(r), "match") for r in found]
    )
    return FhirResponse(200, body=bundles.searchset(entries, links, len(found), ignored))


def _matches(resource: dict[str, Any], name: str, value: str) -> bool:
    wanted = value.split(",")
    if name == "url":
        return any(str(resource.get("url")) == w.split("|")[0] for w in wanted)
    if name == "_id":
        return resource.get("id") in wanted
    actual = str(resource.get("name", ""))
    if name == "name:exact":
        return actual in wanted
    return any(normalize_string(actual).startswith(normalize_string(w)) for w in wanted)

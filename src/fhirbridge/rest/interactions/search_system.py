"""search-system: ``GET [base]?_type=A,B&…`` (R4 http.html#search, "search all resource
types"; search.html#_type), with the parameters every resource has.

Each named type is searched as ``GET [base]/[type]?…`` would search it, through the same
guarded storage (the caller's scopes, their compartment, what they may see), and the pages
are laid end to end: all of the first type's matches, then the next type's.  The ``next``
link names the type reached and that type's own page position, so paging neither skips nor
repeats, as the per-type search's links do not.  ``_sort`` orders within one type, so it is
served when one type is named; across several it is a 400 rather than an order it is not.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fhirbridge.errors import FhirError, Issue, bad_request, error
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest import bundles
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.interactions.end_to_end import Part, lay_end_to_end
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.rest.shaping import Shape, shaped_content

COMMON_PARAMETERS = frozenset({"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"})
"""The search parameters of every resource (R4 resource.html#search) served across types."""
RESULT_PARAMETERS = frozenset({"_count", "_sort", "_summary", "_elements", "_format", "_pretty"})


def _types(request: FhirRequest) -> list[str]:
    named = [name.strip() for key, value in request.query if key == "_type" for name in value.split(",")]
    if not named or "" in named:
        raise bad_request("A search of all types names them: GET [base]?_type=CarePlan,Goal&…", "_type")
    unknown = [name for name in named if name not in STORED_TYPES]
    if unknown:
        raise bad_request(f"_type names types this server does not store: {', '.join(unknown)}", "_type")
    return list(dict.fromkeys(named))


def _url(base_url: str, query: list[tuple[str, str]], cursor: str | None = None) -> str:
    kept = [(k, v) for k, v in query if k != "_cursor"] + ([("_cursor", cursor)] if cursor else [])
    return f"{base_url}?{urlencode(kept, safe='|,:/')}"


async def search_system(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """GET [base]?_type=…: one page across the named types, as the caller may see them."""
    types = _types(request)
    for resource_type in types:
        ctx.repository.policy.require_scope(request.identity, resource_type, "s")
    if "AuditEvent" in types and ctx.audit is not None:
        await ctx.audit.flush()  # the log is complete up to this question, as for AuditEvent?…
    asked = [(k, v) for k, v in request.query if k not in ("_type", "_cursor")]
    ignored = sorted({k for k, _ in asked if k.split(":")[0] not in COMMON_PARAMETERS | RESULT_PARAMETERS})
    if ignored and request.prefer.strict:
        raise FhirError(400, [error("not-supported", f"Not searchable across types: {k}", k) for k in ignored])
    params = [(k, v) for k, v in asked if k not in ignored]
    if len(types) > 1 and any(k == "_sort" for k, _ in params):
        raise bad_request("_sort orders the matches of one type: name one type in _type to sort", "_sort")
    how = Shape.from_query(request.query)
    warnings: list[Issue] = [
        Issue("warning", "not-supported", f"Not searchable across types, ignored: {k}", (k,)) for k in ignored
    ]
    laid = await lay_end_to_end(
        ctx,
        request.identity,
        [Part(resource_type, params) for resource_type in types],
        request.query_value("_cursor"),
        strict=request.prefer.strict,
        local_base=request.base_url,
    )
    warnings += [w for w in laid.warnings if w not in warnings]
    entries = [
        bundles.SearchEntry(f"{request.base_url}/{m.resource_type}/{m.resource_id}", shaped_content(m, how))
        for m in laid.matches
    ]
    following = laid.following
    used = [(k, v) for k, v in request.query if k not in ignored and v != ""]
    links = [("self", _url(request.base_url, used, request.query_value("_cursor")))]
    if following is not None:
        links.append(("next", _url(request.base_url, used, following)))
    return FhirResponse(200, body=bundles.searchset(entries, links, None, warnings))

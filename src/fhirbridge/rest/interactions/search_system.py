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

import re
from urllib.parse import urlencode

from fhirbridge.errors import FhirError, Issue, bad_request, error
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest import bundles
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.rest.shaping import Shape, shaped_content
from fhirbridge.search.query import parse_query

COMMON_PARAMETERS = frozenset({"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"})
"""The search parameters of every resource (R4 resource.html#search) served across types."""
RESULT_PARAMETERS = frozenset({"_count", "_sort", "_summary", "_elements", "_format", "_pretty"})
_CURSOR = re.compile(r"^t(?P<index>\d{1,4})(?:~(?P<inner>.+))?$")


def _types(request: FhirRequest) -> list[str]:
    named = [name.strip() for key, value in request.query if key == "_type" for name in value.split(",")]
    if not named or "" in named:
        raise bad_request("A search of all types names them: GET [base]?_type=CarePlan,Goal&…", "_type")
    unknown = [name for name in named if name not in STORED_TYPES]
    if unknown:
        raise bad_request(f"_type names types this server does not store: {', '.join(unknown)}", "_type")
    return list(dict.fromkeys(named))


def _position(cursor: str | None, types: list[str]) -> tuple[int, str | None]:
    if cursor is None:
        return 0, None
    match = _CURSOR.match(cursor)
    if match is None or int(match.group("index")) >= len(types):
        raise bad_request("_cursor is not a page this server handed out", "_cursor")
    return int(match.group("index")), match.group("inner")


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
    start, inner = _position(request.query_value("_cursor"), types)
    how = Shape.from_query(request.query)
    entries: list[bundles.SearchEntry] = []
    warnings: list[Issue] = [
        Issue("warning", "not-supported", f"Not searchable across types, ignored: {k}", (k,)) for k in ignored
    ]
    remaining: int | None = None
    following: str | None = None
    for index in range(start, len(types)):
        here = [*params, ("_cursor", inner)] if inner is not None and index == start else params
        query = parse_query(
            types[index],
            here,
            strict=request.prefer.strict,
            default_count=ctx.settings.default_page_size,
            max_count=ctx.settings.max_page_size,
        )
        remaining = query.count if remaining is None else remaining
        if remaining == 0:  # filled by the types before this one (or _count=0: no page at all)
            following = f"t{index}" if index > start else None
            break
        query.count, query.total, query.includes = remaining, "none", []
        page = await ctx.repository.search(request.identity, query, request.base_url)
        warnings += [w for w in query.ignored + page.warnings if w not in warnings]
        entries += [
            bundles.SearchEntry(f"{request.base_url}/{m.resource_type}/{m.resource_id}", shaped_content(m, how))
            for m in page.matches
        ]
        remaining -= len(page.matches)
        if page.next_cursor is not None:
            following = f"t{index}~{page.next_cursor}"
            break
    used = [(k, v) for k, v in request.query if k not in ignored and v != ""]
    links = [("self", _url(request.base_url, used, request.query_value("_cursor")))]
    if following is not None:
        links.append(("next", _url(request.base_url, used, following)))
    return FhirResponse(200, body=bundles.searchset(entries, links, None, warnings))

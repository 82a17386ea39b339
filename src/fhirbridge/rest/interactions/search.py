"""search-type on GET and POST ``_search`` (R4 http.html#search, search.html).

Unknown parameters are ignored and reported in an OperationOutcome entry, or refused with
400 under ``Prefer: handling=strict``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fhirbridge.errors import unsupported_media_type
from fhirbridge.rest import bundles
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.rest.shaping import Shape, shaped_content
from fhirbridge.search.query import parse_query


async def search(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type = request.type_name()
    query = parse_query(
        resource_type,
        request.query,
        strict=request.prefer.strict,
        default_count=ctx.settings.default_page_size,
        max_count=ctx.settings.max_page_size,
    )
    # R4 search.html#total: without _total, the total is given (counted when the matches take
    # more than one page); _total=none leaves it out.
    query.count_when_paged = not any(name == "_total" for name, _ in request.query)
    how = Shape.from_query(request.query)
    counting = how.summary == "count" or query.count == 0  # R4 search.html#count: _count=0 counts
    if counting:
        query.count, query.total = 0, "accurate"
    page = await ctx.repository.search(request.identity, query, request.base_url)
    # The self link names the parameters the search used, not the ones it ignored (search.html#bundle).
    ignored = {name for issue in query.ignored for name in issue.expression}
    used = [(name, value) for name, value in request.query if name not in ignored and value != ""]
    links = [("self", bundles.page_url(request.base_url, resource_type, used))]
    if page.next_cursor is not None:
        links.append(("next", bundles.page_url(request.base_url, resource_type, used, page.next_cursor)))
    warnings = query.ignored + page.warnings
    if counting:
        return FhirResponse(200, body=bundles.searchset([], links, page.total, warnings))
    entries = [
        bundles.SearchEntry(f"{request.base_url}/{m.resource_type}/{m.resource_id}", shaped_content(m, how), mode)
        for mode, group in (("match", page.matches), ("include", page.included))
        for m in group
    ]
    return FhirResponse(200, body=bundles.searchset(entries, links, page.total, warnings))


async def search_post(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """POST [type]/_search: parameters in an x-www-form-urlencoded body, and/or the URL."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if request.body and content_type != "application/x-www-form-urlencoded":
        raise unsupported_media_type("POST _search takes application/x-www-form-urlencoded parameters")
    form = parse_qsl((request.body or b"").decode("utf-8", errors="replace"), keep_blank_values=True)
    request.query = [*request.query, *form]
    return await search(ctx, request)

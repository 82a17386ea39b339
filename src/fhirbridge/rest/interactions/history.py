"""history at instance, type and system level (R4 http.html#history).

Newest version first; ``_since`` keeps versions written at or after an instant; ``_count``
sizes the page and the ``next`` link carries a cursor, so paging is stable while others write.
"""

from __future__ import annotations

from fhirbridge.errors import bad_request, not_found
from fhirbridge.fhir.instants import parse_instant
from fhirbridge.rest import bundles
from fhirbridge.rest.interactions.common import require_id
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.search.query import MAX_CURSOR

HISTORY_PARAMETERS = frozenset({"_since", "_count", "_cursor", "_format", "_pretty"})


async def history(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type, resource_id = request.resource_type, request.resource_id
    for name, _ in request.query:
        if name not in HISTORY_PARAMETERS:
            raise bad_request(f"{name} is not a history parameter (use _since, _count)", name, code="not-supported")
    since_text = request.query_value("_since")
    since = parse_instant(since_text, "_since") if since_text is not None else None
    count_text = request.query_value("_count") or str(ctx.settings.default_page_size)
    cursor_text = request.query_value("_cursor")
    if not count_text.isdigit() or (
        cursor_text is not None and not (cursor_text.isdigit() and int(cursor_text) <= MAX_CURSOR)
    ):
        raise bad_request("_count and _cursor are whole numbers", "_count")
    count = min(max(int(count_text), 1), ctx.settings.max_page_size)
    if resource_type and resource_id:
        require_id(resource_type, resource_id)
        if await ctx.repository.read(request.identity, resource_type, resource_id) is None:
            raise not_found(f"{resource_type}/{resource_id} does not exist")
    rows = await ctx.repository.history(
        request.identity,
        resource_type=resource_type,
        resource_id=resource_id,
        since=since,
        before_seq=int(cursor_text) if cursor_text else None,
        limit=count + 1,
    )
    path = "/".join(p for p in (resource_type, resource_id, "_history") if p)
    links = [("self", bundles.page_url(request.base_url, path, request.query))]
    if len(rows) > count:
        rows = rows[:count]
        links.append(("next", bundles.page_url(request.base_url, path, request.query, rows[-1].seq)))
    return FhirResponse(200, body=bundles.history(request.base_url, rows, links))

"""history at instance, type and system level (R4 http.html#history), and the change feed.

By default the newest version comes first (R4); ``_since`` keeps versions written at or after an
instant; ``_count`` sizes the page, whose ``next`` link carries an opaque cursor
(:mod:`fhirbridge.rest.history_cursor`), so paging is stable while others write.

``_sort=_lastUpdated`` (as R5 http.html#history allows) turns the history into the change feed:
the oldest change first, in commit order (:mod:`fhirbridge.storage.feed`).  Every page that read
something has a ``next`` link that goes on exactly after the last change it read, also when it
was the last page for now: a client keeps the last ``next`` link it was given and asks it again
later, and gets each change once, however the writers' commits interleave.  A page that read
nothing has no ``next`` link: the client is up to date, and the link it asked is where it
resumes.
"""

from __future__ import annotations

from fhirbridge.errors import bad_request, not_found
from fhirbridge.fhir.instants import parse_instant
from fhirbridge.rest import bundles, history_cursor
from fhirbridge.rest.interactions.common import require_id
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse

HISTORY_PARAMETERS = frozenset({"_since", "_count", "_cursor", "_sort", "_format", "_pretty"})
SORTS = {"_lastUpdated": True, "-_lastUpdated": False}
"""``_sort`` values: oldest first (the change feed) or newest first (R4's order, the default)."""


async def history(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type, resource_id = request.resource_type, request.resource_id
    for name, _ in request.query:
        if name not in HISTORY_PARAMETERS:
            raise bad_request(
                f"{name} is not a history parameter (use _since, _count, _sort)", name, code="not-supported"
            )
    since_text = request.query_value("_since")
    since = parse_instant(since_text, "_since") if since_text is not None else None
    count_text = request.query_value("_count") or str(ctx.settings.default_page_size)
    if not count_text.isdigit():
        raise bad_request("_count is a whole number", "_count")
    count = min(max(int(count_text), 1), ctx.settings.max_page_size)
    sort_text = request.query_value("_sort") or "-_lastUpdated"
    if sort_text not in SORTS:
        raise bad_request("history sorts by _lastUpdated (oldest first) or -_lastUpdated (newest first)", "_sort")
    oldest_first = SORTS[sort_text]
    path = "/".join(p for p in (resource_type, resource_id, "_history") if p)
    cursor_text = request.query_value("_cursor")
    past = history_cursor.decode(path, oldest_first, cursor_text) if cursor_text is not None else None
    if resource_type and resource_id:
        require_id(resource_type, resource_id)
        if await ctx.repository.read(request.identity, resource_type, resource_id) is None:
            raise not_found(f"{resource_type}/{resource_id} does not exist")
    page = await ctx.repository.history(
        request.identity,
        resource_type=resource_type,
        resource_id=resource_id,
        since=since,
        past=past,
        oldest_first=oldest_first,
        limit=count,
    )
    links = [("self", bundles.page_url(request.base_url, path, request.query))]
    # The feed goes on after whatever it read, even at its end for now; newest first ends at the oldest.
    goes_on = page.last_read != past if oldest_first else not page.exhausted
    if goes_on and page.last_read is not None:
        cursor = history_cursor.encode(path, oldest_first, page.last_read)
        links.append(("next", bundles.page_url(request.base_url, path, request.query, cursor)))
    return FhirResponse(200, body=bundles.history(request.base_url, page.entries, links))

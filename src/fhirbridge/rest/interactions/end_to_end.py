"""Searches of several types laid end to end in one paged searchset (R4 search.html#_type,
operation-patient-everything.html): all of the first search's matches, then the next one's.

Each part is searched as ``GET [base]/[type]?…`` would search it, through the guarded storage
(the caller's compartment, what they may see, pages filled past what is hidden).  A ``next``
cursor names the part reached and that part's own page position (``t2~k345``), so paging
neither skips nor repeats, and only the current page is ever held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fhirbridge.errors import Issue, bad_request
from fhirbridge.identity import Identity
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.search.query import parse_query
from fhirbridge.storage.records import StoredResource

_CURSOR = re.compile(r"^t(?P<index>\d{1,4})(?:~(?P<inner>.+))?$")


@dataclass(frozen=True)
class Part:
    """One search of the sequence: a type and its parameters (``_count`` among them)."""

    resource_type: str
    params: list[tuple[str, str]]


@dataclass
class Laid:
    """One page across the parts: the matches, the warnings, and the next page's cursor."""

    matches: list[StoredResource] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    following: str | None = None


def position(cursor: str | None, parts: int) -> tuple[int, str | None]:
    """The part index and that part's own cursor named by a ``_cursor`` this server handed out."""
    if cursor is None:
        return 0, None
    match = _CURSOR.match(cursor)
    if match is None or int(match.group("index")) >= parts:
        raise bad_request("_cursor is not a page this server handed out", "_cursor")
    return int(match.group("index")), match.group("inner")


async def lay_end_to_end(
    ctx: ServiceContext,
    identity: Identity,
    parts: list[Part],
    cursor: str | None,
    *,
    strict: bool,
    local_base: str | None,
) -> Laid:
    """The page at ``cursor`` (None: the first) of the parts' matches, as ``identity`` may see
    them; the page size is the first part's ``_count``."""
    start, inner = position(cursor, len(parts))
    laid = Laid()
    remaining: int | None = None
    for index in range(start, len(parts)):
        part = parts[index]
        here = [*part.params, ("_cursor", inner)] if inner is not None and index == start else part.params
        query = parse_query(
            part.resource_type,
            here,
            strict=strict,
            default_count=ctx.settings.default_page_size,
            max_count=ctx.settings.max_page_size,
        )
        remaining = query.count if remaining is None else remaining
        if remaining == 0:  # filled by the parts before this one (or _count=0: no page at all)
            laid.following = f"t{index}" if index > start else None
            break
        query.count, query.total, query.includes = remaining, "none", []
        page = await ctx.repository.search(identity, query, local_base)
        laid.warnings += [w for w in query.ignored + page.warnings if w not in laid.warnings]
        laid.matches += page.matches
        remaining -= len(page.matches)
        if page.next_cursor is not None:
            laid.following = f"t{index}~{page.next_cursor}"
            break
    return laid

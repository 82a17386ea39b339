"""``_include`` and ``_revinclude`` (R4 search.html#include), with ``:iterate``.

Includes are computed for one page of matches: ``_include`` follows the named reference
parameter from the matches to what they refer to, ``_revinclude`` finds what refers to the
matches through it, and ``:iterate`` repeats on whatever was included, until nothing new
turns up or the limits are reached.  Only live resources are included, each once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from fhirbridge.errors import Issue
from fhirbridge.search.query import Include
from fhirbridge.search.sql import SELECT_COLUMNS
from fhirbridge.storage.database import Connection, Row
from fhirbridge.storage.records import StoredResource

MAX_ITERATIONS = 4
MAX_INCLUDED = 1000


@dataclass
class Included:
    resources: list[StoredResource] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)


def record(row: Row) -> StoredResource:
    """A StoredResource from a row of :data:`~fhirbridge.search.sql.SELECT_COLUMNS`."""
    return StoredResource(row[1], row[2], row[3], row[4], False, row[5], pk=row[0])


async def _forward(conn: Connection, include: Include, sources: list[StoredResource]) -> list[StoredResource]:
    """What ``sources`` refer to through the include's parameter, in one query."""
    pks = [s.pk for s in sources if s.resource_type == include.source_type and s.pk is not None]
    if not pks:
        return []
    sql = (
        f"SELECT {SELECT_COLUMNS} FROM idx_reference t "
        "JOIN resources r ON r.res_type = t.target_type AND r.res_id = t.target_id "
        "WHERE t.res_type = $1 AND t.param = $2 AND t.target_url IS NULL "
        f"AND t.res_pk {conn.dialect.in_list('$3')} AND NOT r.deleted"
    )
    args: list[object] = [include.source_type, include.parameter.code, pks]
    if include.target_type is not None:
        sql += " AND t.target_type = $4"
        args.append(include.target_type)
    return [record(row) for row in await conn.fetch(sql + " ORDER BY r.pk", *args)]


async def _reverse(conn: Connection, include: Include, targets: list[StoredResource]) -> list[StoredResource]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for target in targets:
        if include.target_type is None or target.resource_type == include.target_type:
            by_type[target.resource_type].append(target.resource_id)
    found: list[StoredResource] = []
    for target_type, ids in by_type.items():
        rows = await conn.fetch(
            f"SELECT {SELECT_COLUMNS} FROM idx_reference t JOIN resources r ON r.pk = t.res_pk "
            "WHERE t.res_type = $1 AND t.param = $2 AND t.target_type = $3 AND t.target_url IS NULL "
            f"AND t.target_id {conn.dialect.in_list('$4')} AND NOT r.deleted ORDER BY r.pk",
            include.source_type,
            include.parameter.code,
            target_type,
            ids,
        )
        found.extend(record(row) for row in rows)
    return found


Connect = Callable[[], AbstractAsyncContextManager[Connection]]
Keep = Callable[[list[StoredResource]], Awaitable[list[StoredResource]]]


async def resolve_includes(
    connect: Connect, includes: list[Include], matches: list[StoredResource], keep: Keep | None = None
) -> Included:
    """The resources that the includes add to a page of ``matches``.

    Each round reads on a connection of its own from ``connect``; ``keep`` (the access policy)
    filters what a round found before the next round iterates from it, so that ``:iterate``
    never walks through a resource the caller may not see."""
    result = Included()
    seen = {(m.resource_type, m.resource_id) for m in matches}
    frontier = list(matches)
    for iteration in range(MAX_ITERATIONS):
        new: list[StoredResource] = []
        async with connect() as conn:
            for include in includes:
                if iteration > 0 and not include.iterate:
                    continue
                follow = _reverse if include.reverse else _forward
                new.extend(await follow(conn, include, frontier))
        frontier = []
        for resource in new:
            key = (resource.resource_type, resource.resource_id)
            if key in seen:
                continue
            seen.add(key)
            frontier.append(resource)
        if keep is not None:
            frontier = await keep(frontier)
        if len(result.resources) + len(frontier) > MAX_INCLUDED:
            frontier = frontier[: MAX_INCLUDED - len(result.resources)]
            result.resources.extend(frontier)
            result.warnings.append(
                Issue("warning", "too-costly", f"Only the first {MAX_INCLUDED} included resources are returned")
            )
            break
        result.resources.extend(frontier)
        if not frontier or not any(include.iterate for include in includes):
            break
    return result

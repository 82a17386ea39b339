"""Searches answered by what the caller is shown, not by what is stored (docs/security.md, rule 7).

The search index is built from the stored content.  A caller outside a blocked unit reads a plan
or care team as a view without the unit's references (:meth:`AccessPolicy._without_blocked_units`
in :mod:`fhirbridge.access.policy`), so a match on a reference the view no longer holds, or an
include that followed one, would tell exactly what the view keeps from them.  Both are judged
again here on the view's own index rows (:func:`fhirbridge.search.index.extract_index`).
"""

from __future__ import annotations

from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.search.index import extract_index
from fhirbridge.search.query import Clause, Include, SearchQuery
from fhirbridge.storage.records import StoredResource

Named = list[tuple[str, str, str]]
"""A resource's local references as index rows: (parameter, target type, target id)."""


def _references(resource: StoredResource) -> Named:
    if resource.content is None:
        return []
    rows = extract_index(resource.resource_type, loads(resource.content)).reference
    return [(param, kind, target) for param, kind, target, url in rows if url is None and kind and target]


def still_matches(query: SearchQuery, view: StoredResource, stored: StoredResource) -> bool:
    """Whether a match, as the caller is shown it, still satisfies the query's reference clauses
    (the rest a view does not change).  A chain or a modifier on a reference cannot be judged
    without searching again: on a view that was filtered it counts as not holding (fail closed)."""
    clauses = [clause for clause in query.clauses if clause.param_type == "reference" and clause.has_type is None]
    if not clauses or view.content == stored.content or view.content is None:
        return True
    named = _references(view)
    return all(_holds(clause, named) for clause in clauses)


def _holds(clause: Clause, named: Named) -> bool:
    if clause.chained is not None or clause.modifier is not None:
        return False
    targets = {(kind, target) for param, kind, target in named if param == clause.code}
    for value in clause.values:
        parsed = parse_reference(value)
        if parsed is not None and parsed.resource_type and parsed.resource_id:
            if (parsed.resource_type, parsed.resource_id) in targets:
                return True
        elif any(target == value for _, target in targets):
            return True
    return False


def told_includes(
    query: SearchQuery, matches: list[StoredResource], included: list[StoredResource]
) -> list[StoredResource]:
    """The included resources that the page, as the caller is shown it, leads to: round by round
    from the matches (``:iterate`` from what the round before brought), an ``_include`` brings
    what a shown resource still names under the include's parameter, a ``_revinclude`` a
    referrer whose shown content still names a shown resource under it."""
    if not query.includes or not included:
        return included
    memo: dict[int, Named] = {}

    def references(resource: StoredResource) -> Named:
        if id(resource) not in memo:
            memo[id(resource)] = _references(resource)
        return memo[id(resource)]

    told: set[int] = set()
    frontier, pending, first = list(matches), list(included), True
    while frontier and pending:
        includes = [include for include in query.includes if first or include.iterate]
        sources = {(resource.resource_type, resource.resource_id) for resource in frontier}
        forward = {
            (kind, target)
            for include in includes
            if not include.reverse
            for resource in frontier
            if resource.resource_type == include.source_type
            for param, kind, target in references(resource)
            if _under(include, param, kind)
        }
        rest: list[StoredResource] = []
        frontier = []
        for resource in pending:
            key = (resource.resource_type, resource.resource_id)
            reverse = any(
                include.reverse
                and resource.resource_type == include.source_type
                and any(
                    _under(include, param, kind) and (kind, target) in sources
                    for param, kind, target in references(resource)
                )
                for include in includes
            )
            (frontier if key in forward or reverse else rest).append(resource)
        told |= {id(resource) for resource in frontier}
        pending, first = rest, False
    return [resource for resource in included if id(resource) in told]


def _under(include: Include, param: str, kind: str) -> bool:
    return param == include.parameter.code and include.target_type in (None, kind)

"""Searches answered by what the caller is shown, not by what is stored (docs/security.md, rule 7).

The search index is built from the stored content.  A caller outside a blocked unit reads a plan
or care team as a view without the unit's references (:meth:`AccessPolicy._without_blocked_units`
in :mod:`fhirbridge.access.policy`), so a match on a reference the view no longer holds, or an
include that followed one, would tell exactly what the view keeps from them.  Both are judged
again here on the view's own index rows (:func:`fhirbridge.search.index.extract_index`).
"""

from __future__ import annotations

from typing import Any

from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.search.index import extract_index
from fhirbridge.search.normalize import INDEXED_LENGTH, indexed, normalize_string
from fhirbridge.search.query import Clause, Include, SearchQuery
from fhirbridge.storage.records import StoredResource

REFERENCES = frozenset({"reference"})
Named = list[tuple[str, str, str]]
"""A resource's local references as index rows: (parameter, target type, target id)."""


def _references(resource: StoredResource) -> Named:
    if resource.content is None:
        return []
    rows = extract_index(resource.resource_type, loads(resource.content), kinds=REFERENCES).reference
    return [(param, kind, target) for param, kind, target, url in rows if url is None and kind and target]


Rows = dict[str, list[tuple[Any, ...]]]
"""A resource's index rows by parameter code (a reference's ``:identifier`` tokens with it)."""


def _rows(resource: StoredResource) -> Rows:
    if resource.content is None:
        return {}
    rows = extract_index(resource.resource_type, loads(resource.content))
    grouped: Rows = {}
    for table in ("token", "string", "date", "reference", "uri"):
        for row in getattr(rows, table):
            grouped.setdefault(str(row[0]).partition(":")[0], []).append((table, *row))
    return grouped


def still_matches(query: SearchQuery, view: StoredResource, stored: StoredResource) -> bool:
    """Whether a match, as the caller is shown it, still satisfies *every* clause of the query.

    Only a view that differs from the stored content is judged again.  A clause whose
    parameter's index rows the view leaves as they were holds as the stored content matched it
    (the view changed nothing it looks at: ``_id``, ``_lastUpdated`` and ``_has`` look at no
    content of the match); the others are judged on the view's own index rows.  What cannot be
    judged without searching again (a chain, ``:not``, ``:text``, ``:below``/``:above``, a
    date, an absolute URL) counts as not holding on such a view (fail closed)."""
    if view.content == stored.content or view.content is None:
        return True
    if stored.content is None:
        return False
    shown, kept = _rows(view), _rows(stored)
    return all(_clause_holds(clause, shown, kept) for clause in query.clauses)


def sorts_as_stored(query: SearchQuery, view: StoredResource, stored: StoredResource) -> bool:
    """Whether a match of a sorted page sorts, as the caller is shown it, where its stored content
    puts it: the order is computed from the stored index, so a view whose rows of a sort
    parameter differ (a plan's hidden performer, ``_sort=performer``) would be placed by what it
    hides.  Such a match is left out of the page (fail closed: lost results, never a leak), and
    so is every filtered match when the page's sort is not known (a snapshot's later page)."""
    if view.content == stored.content or view.content is None:
        return True
    if stored.content is None or not query.sort:
        return False
    shown, kept = _rows(view), _rows(stored)
    return all(
        sorted(map(repr, shown.get(key.code, []))) == sorted(map(repr, kept.get(key.code, []))) for key in query.sort
    )


def _clause_holds(clause: Clause, shown: Rows, kept: Rows) -> bool:
    if clause.parameter is None or clause.code == "_has" or clause.has_type is not None:
        return True
    if sorted(map(repr, shown.get(clause.code, []))) == sorted(map(repr, kept.get(clause.code, []))):
        return True
    if clause.chained is not None:
        return False
    rows = shown.get(clause.code, [])
    if clause.modifier == "missing":
        present = any(row[1] == clause.code for row in rows)
        return clause.values == ("false",) if present else clause.values == ("true",)
    if clause.modifier == "identifier":
        tokens = [row[2:] for row in rows if row[0] == "token" and row[1] == f"{clause.code}:identifier"]
        return any(_token(value, token) for value in clause.values for token in tokens)
    own = [row[2:] for row in rows if row[1] == clause.code]
    if clause.param_type == "reference" and (clause.modifier is None or clause.modifier[:1].isupper()):
        named = [(clause.code, kind, target) for kind, target, url in own if url is None and kind and target]
        return _holds(clause, named)
    if clause.param_type == "token" and clause.modifier is None:
        return any(_token(value, token) for value in clause.values for token in own)
    if clause.param_type == "string" and clause.modifier in (None, "exact", "contains"):
        return any(_string(clause.modifier, value, row) for value in clause.values for row in own)
    if clause.param_type == "uri" and clause.modifier is None:
        return any(row[0] == value[:INDEXED_LENGTH] for value in clause.values for row in own)
    return False


def _token(value: str, row: tuple[Any, ...]) -> bool:
    """A token row (system, code, text) against ``system|code``, ``|code``, ``system|`` or ``code``."""
    system, code = row[0], row[1]
    if "|" not in value:
        return bool(code == indexed(value))
    wanted_system, _, wanted_code = value.partition("|")
    if wanted_code and code != indexed(wanted_code):
        return False
    return bool(system == indexed(wanted_system)) if wanted_system else system is None


def _string(modifier: str | None, value: str, row: tuple[Any, ...]) -> bool:
    normalized, exact = str(row[0]), row[1]
    if modifier == "exact":
        return bool(exact == value)
    wanted = normalize_string(value)[:INDEXED_LENGTH]
    return wanted in normalized if modifier == "contains" else normalized.startswith(wanted)


def _holds(clause: Clause, named: Named) -> bool:
    if clause.chained is not None:
        return False
    wanted_type = clause.modifier if clause.modifier and clause.modifier[:1].isupper() else None
    if clause.modifier is not None and wanted_type is None:
        return False
    targets = {(kind, target) for param, kind, target in named if param == clause.code}
    for value in clause.values:
        parsed = parse_reference(value)
        if parsed is not None and parsed.resource_type and parsed.resource_id:
            if (parsed.resource_type, parsed.resource_id) in targets and wanted_type in (None, parsed.resource_type):
                return True
        elif not any(mark in value for mark in "/|:") and any(
            target == value and wanted_type in (None, kind) for kind, target in targets
        ):
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

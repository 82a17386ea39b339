"""Parsing a search query string (R4 search.html).

``name[:modifier]=value[,value…]``: repeating a parameter ANDs, commas OR (``\\,`` is a
literal comma).  A name can chain through references (``subject:Patient.identifier``,
``care-team.participant.identifier``, search.html#chaining) or reverse-chain
(``_has:CarePlan:subject:category``, search.html#has).  ``_include``, ``_revinclude``,
``_sort``, ``_count``, ``_total`` and the page cursor shape the result.

Parameters the server does not know are collected, so the caller can ignore them with a
warning or, under ``Prefer: handling=strict``, refuse them (search.html#errors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from fhirbridge.errors import Issue, bad_request
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.search.parameters import COLUMN_PARAMETERS, RESULT_PARAMETERS, SearchParameter, search_parameters

DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MODIFIERS: dict[str, frozenset[str]] = {
    "token": frozenset({"missing", "not", "text"}),
    "string": frozenset({"missing", "exact", "contains"}),
    "date": frozenset({"missing"}),
    "reference": frozenset({"missing", "identifier"}),
    "uri": frozenset({"missing", "below", "above"}),
}
SORTABLE = frozenset({"token", "string", "date", "reference", "uri"})
MAX_CHAIN_DEPTH = 3
MAX_CLAUSES = 32
MAX_VALUES = 100
MAX_INCLUDES = 16
_COMMA = re.compile(r"(?<!\\),")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEYSET_CURSOR = re.compile(r"^k(\d{1,18})$")
_SNAPSHOT_CURSOR = re.compile(r"^s([0-9a-f]{32})\.(\d{1,9})$")
_SNAPSHOT_ROW_CURSOR = re.compile(r"^s([0-9a-f]{32})\.r(\d{1,18})$")
MAX_CURSOR = 2**63 - 1
TotalMode = Literal["none", "estimate", "accurate"]


class UnknownParameter(Exception):
    pass


@dataclass(frozen=True)
class Clause:
    """One ``name[:modifier]=a,b`` of a query; its values are ORed.

    ``parameter`` is None for the column parameters ``_id`` and ``_lastUpdated`` and for
    ``_has``.  A chained clause has ``chained`` (the clause to apply to each of
    ``target_types``) and no values of its own; ``_has`` keeps the referring type and
    parameter in ``has_type``/``parameter``.
    """

    parameter: SearchParameter | None
    code: str
    param_type: str
    modifier: str | None
    values: tuple[str, ...]
    chained: Clause | None = None
    target_types: tuple[str, ...] = ()
    has_type: str | None = None


@dataclass(frozen=True)
class Include:
    """``_include=Source:param[:Target]`` or ``_revinclude=Source:param[:Target]``, maybe ``:iterate``."""

    source_type: str
    parameter: SearchParameter
    target_type: str | None
    reverse: bool
    iterate: bool


@dataclass(frozen=True)
class SortKey:
    code: str
    parameter: SearchParameter | None  # None for _id and _lastUpdated
    descending: bool


@dataclass
class SearchQuery:
    """A parsed search: the clauses (ANDed) and the result parameters."""

    resource_type: str
    clauses: list[Clause] = field(default_factory=list)
    count: int = 20
    keyset_cursor: int | None = None
    snapshot: tuple[str, int] | None = None
    snapshot_after_row: int | None = None
    """With ``snapshot``: continue after the row of this resource key (a restricted caller's
    page, whose cursor must not count the rows hidden from them), not after a position."""
    total: TotalMode = "none"
    count_when_paged: bool = False
    """Without ``_total``: count the matches when they take more than one page (a result that
    fits one page is counted by reading it), as ``search-type`` does by default; the searches
    across types and the compartment's pages do not."""
    sort: list[SortKey] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    ignored: list[Issue] = field(default_factory=list)


def split_values(value: str) -> tuple[str, ...]:
    return tuple(part.replace("\\,", ",") for part in _COMMA.split(value))


def _leaf(resource_type: str, name: str, value: str) -> Clause:
    """``code[:modifier]`` on ``resource_type`` with its values (no chain)."""
    code, _, modifier_text = name.partition(":")
    modifier = modifier_text or None
    if code in COLUMN_PARAMETERS:
        if modifier is not None:
            raise bad_request(f"The modifier :{modifier} is not supported on {code}", name)
        return Clause(None, code, "token" if code == "_id" else "date", None, split_values(value))
    parameter = search_parameters(resource_type).get(code)
    if parameter is None:
        raise UnknownParameter(f"Unknown search parameter '{code}' for {resource_type}")
    type_modifier = parameter.type == "reference" and modifier is not None and modifier[:1].isupper()
    if modifier is not None and not type_modifier and modifier not in MODIFIERS[parameter.type]:
        raise UnknownParameter(f"The modifier :{modifier} is not supported on '{code}' ({parameter.type})")
    if modifier == "missing" and value not in ("true", "false"):
        raise bad_request(f"{name} takes true or false, not {value!r}", name)
    return Clause(parameter, code, parameter.type, modifier, split_values(value))


def _reference_targets(parameter: SearchParameter, modifier: str | None) -> tuple[str, ...]:
    if modifier is not None:
        if modifier not in STORED_TYPES:
            raise UnknownParameter(f"{modifier} is not a type this server stores")
        return (modifier,)
    if "Resource" in parameter.targets:
        return STORED_TYPES
    return tuple(t for t in parameter.targets if t in STORED_TYPES)


def _clause(resource_type: str, name: str, value: str, depth: int = 0) -> Clause:
    """Parse a parameter name (possibly chained or reverse-chained) on ``resource_type``."""
    if depth > MAX_CHAIN_DEPTH:
        raise bad_request(f"Chains are limited to {MAX_CHAIN_DEPTH} links", name)
    if name.startswith("_has:"):
        parts = name.split(":", 3)
        if len(parts) < 4:
            raise bad_request("_has takes _has:Type:parameter:search-parameter", name)
        _, has_type, link_code, rest = parts
        if has_type not in STORED_TYPES:
            raise UnknownParameter(f"_has names {has_type}, which this server does not store")
        link = search_parameters(has_type).get(link_code)
        if link is None or link.type != "reference":
            raise UnknownParameter(f"{link_code} is not a reference parameter of {has_type}")
        chained = _clause(has_type, rest, value, depth + 1)
        return Clause(link, "_has", "has", None, (), chained=chained, has_type=has_type)
    head, dot, rest = name.partition(".")
    if not dot:
        clause = _leaf(resource_type, name, value)
        if value == "" and clause.modifier != "missing":
            raise bad_request(f"The search parameter {name} has no value", name)
        return clause
    code, _, modifier_text = head.partition(":")
    parameter = search_parameters(resource_type).get(code)
    if parameter is None or parameter.type != "reference":
        raise UnknownParameter(f"{code} is not a reference parameter of {resource_type}, so it cannot be chained")
    targets = _reference_targets(parameter, modifier_text or None)
    next_link: Clause | None = None
    usable = []
    for target in targets:
        try:
            next_link = _clause(target, rest, value, depth + 1)
        except UnknownParameter:
            continue
        usable.append(target)
    if next_link is None:
        raise UnknownParameter(
            f"'{rest}' is not a search parameter of {' or '.join(targets) or 'the referenced types'}"
        )
    return Clause(
        parameter, code, "reference", modifier_text or None, (), chained=next_link, target_types=tuple(usable)
    )


def parse_query(
    resource_type: str,
    pairs: list[tuple[str, str]],
    *,
    strict: bool,
    default_count: int,
    max_count: int,
) -> SearchQuery:
    """Parse ``pairs`` (already URL-decoded) for a search of ``resource_type``."""
    query = SearchQuery(resource_type, count=default_count)
    for name, value in pairs:
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise bad_request("Search parameters must not contain control characters", name[:64])
        if value == "" and not name.startswith("_"):
            continue  # an empty parameter is not an error; it constrains nothing (search.html#errors)
        base_name = name.split(":", 1)[0]
        try:
            if base_name in RESULT_PARAMETERS:
                _result_parameter(query, name, value, max_count)
            else:
                query.clauses.append(_clause(resource_type, name, value))
        except UnknownParameter as unknown:
            if strict:
                raise bad_request(str(unknown), name, code="not-supported") from None
            query.ignored.append(Issue("warning", "not-supported", f"{unknown}; it was ignored", (name,)))
    _check_cost(query)
    return query


def _check_cost(query: SearchQuery) -> None:
    """Refuse searches whose size alone makes them a burden (search.html leaves limits to servers)."""
    if len(query.clauses) > MAX_CLAUSES:
        raise bad_request(f"A search may have at most {MAX_CLAUSES} parameters", code="too-costly")
    if len(query.includes) > MAX_INCLUDES:
        raise bad_request(f"A search may have at most {MAX_INCLUDES} _include and _revinclude", code="too-costly")
    stack = list(query.clauses)
    while stack:
        clause = stack.pop()
        if len(clause.values) > MAX_VALUES:
            raise bad_request(f"A parameter may have at most {MAX_VALUES} values", clause.code, code="too-costly")
        if clause.chained is not None:
            stack.append(clause.chained)


def _include(query: SearchQuery, name: str, value: str) -> Include:
    reverse = name.startswith("_revinclude")
    iterate = name.endswith(":iterate") or name.endswith(":recurse")
    parts = value.split(":")
    if value == "*" or len(parts) not in (2, 3):
        raise UnknownParameter(f"{name}={value} is not supported; name Type:parameter[:TargetType]")
    source_type, code = parts[0], parts[1]
    if source_type not in STORED_TYPES:
        raise UnknownParameter(f"{name}={value}: {source_type} is not stored here")
    parameter = search_parameters(source_type).get(code)
    if parameter is None or parameter.type != "reference":
        raise UnknownParameter(f"{name}={value}: {code} is not a reference parameter of {source_type}")
    target = parts[2] if len(parts) == 3 else None
    if target is not None and target not in STORED_TYPES:
        raise UnknownParameter(f"{name}={value}: {target} is not stored here")
    if not iterate and not reverse and source_type != query.resource_type:
        raise bad_request(f"_include={value} must start with {query.resource_type} (or use _include:iterate)", name)
    return Include(source_type, parameter, target, reverse, iterate)


def _sort_keys(query: SearchQuery, value: str) -> list[SortKey]:
    keys = []
    for part in value.split(","):
        code = part.strip()
        descending = code.startswith("-")
        code = code.lstrip("-")
        if code in COLUMN_PARAMETERS:
            keys.append(SortKey(code, None, descending))
            continue
        parameter = search_parameters(query.resource_type).get(code)
        if parameter is None or parameter.type not in SORTABLE:
            raise UnknownParameter(f"_sort: {code} is not a search parameter of {query.resource_type} that can sort")
        keys.append(SortKey(code, parameter, descending))
    return keys


def _result_parameter(query: SearchQuery, name: str, value: str, max_count: int) -> None:
    base = name.split(":", 1)[0]
    if base == "_count":
        if not value.isdigit():
            raise bad_request(f"_count must be a whole number, not {value!r}", "_count")
        query.count = min(int(value), max_count)
    elif base == "_cursor":
        if match := _KEYSET_CURSOR.match(value):
            query.keyset_cursor = int(match.group(1))
        elif match := _SNAPSHOT_CURSOR.match(value):
            query.snapshot = (match.group(1), int(match.group(2)))
        elif match := _SNAPSHOT_ROW_CURSOR.match(value):
            query.snapshot, query.snapshot_after_row = (match.group(1), 0), int(match.group(2))
        else:
            raise bad_request("_cursor is not a page this server handed out", "_cursor")
    elif base == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise bad_request("_total is none, estimate or accurate", "_total")
        query.total = value  # type: ignore[assignment]
    elif base == "_sort":
        query.sort = _sort_keys(query, value)
    elif base in ("_include", "_revinclude"):
        for item in value.split(","):
            query.includes.append(_include(query, name, item.strip()))
    elif base in ("_contained", "_containedType"):
        raise UnknownParameter(f"{name} is not supported")


def with_clause(query: SearchQuery, name: str, value: str) -> SearchQuery:
    """The query with one more ANDed clause (the access policy keeps a patient to their own compartment)."""
    return replace(query, clauses=[*query.clauses, _clause(query.resource_type, name, value)])

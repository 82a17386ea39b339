"""Parsing a search query string into clauses (R4 search.html).

``name[:modifier]=value[,value…]``: repeating a parameter ANDs, commas OR (``\\,`` is a
literal comma).  Parameters the server does not know are collected, so the caller can
ignore them with a warning or, under ``Prefer: handling=strict``, refuse them (R4
search.html#errors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from fhirbridge.errors import Issue, bad_request
from fhirbridge.search.parameters import COLUMN_PARAMETERS, RESULT_PARAMETERS, SearchParameter, search_parameters

DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MODIFIERS: dict[str, frozenset[str]] = {
    "token": frozenset({"missing", "not", "text"}),
    "string": frozenset({"missing", "exact", "contains"}),
    "date": frozenset({"missing"}),
    "reference": frozenset({"missing", "identifier"}),
    "uri": frozenset({"missing", "below", "above"}),
}
_COMMA = re.compile(r"(?<!\\),")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_CURSOR = 2**63 - 1
TotalMode = Literal["none", "estimate", "accurate"]


@dataclass(frozen=True)
class Clause:
    """One ``name[:modifier]=a,b`` of a query: its values are ORed."""

    parameter: SearchParameter | None  # None for the column parameters _id and _lastUpdated
    code: str
    param_type: str
    modifier: str | None
    values: tuple[str, ...]


@dataclass
class SearchQuery:
    """A parsed search: the clauses (ANDed) and the result parameters."""

    resource_type: str
    clauses: list[Clause] = field(default_factory=list)
    count: int = 20
    cursor: int | None = None
    total: TotalMode = "none"
    ignored: list[Issue] = field(default_factory=list)


def split_values(value: str) -> tuple[str, ...]:
    return tuple(part.replace("\\,", ",") for part in _COMMA.split(value))


def _column_clause(code: str, modifier: str | None, value: str) -> Clause:
    if modifier is not None:
        raise bad_request(f"The modifier :{modifier} is not supported on {code}", code)
    return Clause(None, code, "token" if code == "_id" else "date", None, split_values(value))


def parse_query(
    resource_type: str,
    pairs: list[tuple[str, str]],
    *,
    strict: bool,
    default_count: int,
    max_count: int,
) -> SearchQuery:
    """Parse ``pairs`` (already URL-decoded) for a search of ``resource_type``."""
    params = search_parameters(resource_type)
    query = SearchQuery(resource_type, count=default_count)
    for name, value in pairs:
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise bad_request("Search parameters must not contain control characters", name[:64])
        if name in RESULT_PARAMETERS:
            _result_parameter(query, name, value, max_count)
            continue
        code, _, modifier_text = name.partition(":")
        modifier = modifier_text or None
        if code in COLUMN_PARAMETERS:
            query.clauses.append(_column_clause(code, modifier, value))
            continue
        parameter = params.get(code)
        if parameter is None or "." in code:
            _unknown(query, name, f"Unknown search parameter '{name}' for {resource_type}", strict)
            continue
        target_type_modifier = parameter.type == "reference" and modifier is not None and modifier[:1].isupper()
        if modifier is not None and not target_type_modifier and modifier not in MODIFIERS[parameter.type]:
            _unknown(query, name, f"The modifier :{modifier} is not supported on '{code}' ({parameter.type})", strict)
            continue
        if modifier == "missing" and value not in ("true", "false"):
            raise bad_request(f"{name} takes true or false, not {value!r}", name)
        if value == "":
            raise bad_request(f"The search parameter {name} has no value", name)
        query.clauses.append(Clause(parameter, code, parameter.type, modifier, split_values(value)))
    return query


def _unknown(query: SearchQuery, name: str, message: str, strict: bool) -> None:
    if strict:
        raise bad_request(message, name, code="not-supported")
    query.ignored.append(Issue("warning", "not-supported", message + "; it was ignored", (name,)))


def _result_parameter(query: SearchQuery, name: str, value: str, max_count: int) -> None:
    if name == "_count":
        if not value.isdigit():
            raise bad_request(f"_count must be a whole number, not {value!r}", "_count")
        query.count = min(int(value), max_count)
    elif name == "_cursor":
        if not value.isdigit() or int(value) > MAX_CURSOR:
            raise bad_request("_cursor is not a page this server handed out", "_cursor")
        query.cursor = int(value)
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise bad_request("_total is none, estimate or accurate", "_total")
        query.total = value  # type: ignore[assignment]
    elif name not in ("_format", "_pretty", "_summary", "_elements"):
        query.ignored.append(
            Issue(
                "warning", "not-supported", f"The result parameter {name} is not supported yet; it was ignored", (name,)
            )
        )

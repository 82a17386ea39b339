"""Compiling parsed search clauses to SQL over the index tables (R4 search.html#ptypes).

Each clause becomes ``r.pk IN (SELECT res_pk FROM idx_… WHERE …)`` (or ``NOT IN`` for
``:not`` and ``:missing=true``), which both engines answer from the index first.  Results
are ordered by the surrogate key, so a ``next`` link (a key cursor) neither skips nor
repeats a resource while others write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from fhirbridge.errors import bad_request
from fhirbridge.fhir.instants import from_datetime
from fhirbridge.fhir.references import parse_reference
from fhirbridge.search.dates import date_range
from fhirbridge.search.normalize import INDEXED_LENGTH, indexed, normalize_string
from fhirbridge.search.query import DATE_PREFIXES, Clause, SearchQuery
from fhirbridge.storage.database import Dialect

_TABLE_BY_TYPE = {
    "token": "idx_token",
    "string": "idx_string",
    "date": "idx_date",
    "reference": "idx_reference",
    "uri": "idx_uri",
}


@dataclass
class SqlBuilder:
    dialect: Dialect
    args: list[object] = field(default_factory=list)

    def arg(self, value: object) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _split_token(value: str) -> tuple[str | None, str | None, bool]:
    """(system, code, system given) of ``system|code``, ``|code``, ``system|`` or ``code``."""
    if "|" not in value:
        return None, value, False
    system, _, code = value.partition("|")
    return system, code or None, True


def _token_condition(b: SqlBuilder, clause: Clause, value: str) -> str:
    if clause.modifier == "text":
        words = _escape_like(normalize_string(value))
        return f"(t.text LIKE {b.arg(words + '%')} ESCAPE '\\' OR t.text LIKE {b.arg('% ' + words + '%')} ESCAPE '\\')"
    system, code, system_given = _split_token(value)
    parts = []
    if code is not None:
        parts.append(f"t.code = {b.arg(indexed(code))}")
    if system_given:
        parts.append(f"t.system = {b.arg(indexed(system))}" if system else "t.system IS NULL")
    return " AND ".join(parts) or "1 = 1"


def _string_condition(b: SqlBuilder, clause: Clause, value: str) -> str:
    if clause.modifier == "exact":
        return f"t.exact = {b.arg(value)}"
    normalized = _escape_like(normalize_string(value)[:INDEXED_LENGTH])
    if clause.modifier == "contains":
        return f"t.normalized LIKE {b.arg('%' + normalized + '%')} ESCAPE '\\'"
    return f"t.normalized LIKE {b.arg(normalized + '%')} ESCAPE '\\'"


def parse_date_value(value: str, name: str) -> tuple[str, int, int]:
    prefix = value[:2] if value[:2] in DATE_PREFIXES else "eq"
    text = value[2:] if value[:2] in DATE_PREFIXES else value
    found = date_range(text)
    if found is None:
        raise bad_request(f"{name}: {value!r} is not a FHIR date (yyyy, yyyy-mm, yyyy-mm-dd or a dateTime)", name)
    return prefix, found[0], found[1]


def date_condition(b: SqlBuilder, prefix: str, low: int, high: int, low_col: str, high_col: str) -> str:
    """R4 search.html#prefix: compare the resource's range with the parameter's range."""
    if prefix == "eq":
        return f"{low_col} >= {b.arg(low)} AND {high_col} <= {b.arg(high)}"
    if prefix == "ne":
        return f"NOT ({low_col} >= {b.arg(low)} AND {high_col} <= {b.arg(high)})"
    if prefix == "gt":
        return f"{high_col} > {b.arg(high)}"
    if prefix == "lt":
        return f"{low_col} < {b.arg(low)}"
    if prefix == "ge":
        return f"{high_col} >= {b.arg(low)}"
    if prefix == "le":
        return f"{low_col} <= {b.arg(high)}"
    if prefix == "sa":
        return f"{low_col} > {b.arg(high)}"
    if prefix == "eb":
        return f"{high_col} < {b.arg(low)}"
    # ap: within 10% of the distance between the value and now, at least a day (R4 leaves it to the server)
    now = from_datetime(datetime.now(UTC))
    margin = max(abs(now - low) // 10, 86_400_000_000)
    return f"{high_col} >= {b.arg(low - margin)} AND {low_col} <= {b.arg(high + margin)}"


def _reference_condition(b: SqlBuilder, clause: Clause, value: str, local_base: str | None) -> str:
    target_type = clause.modifier if clause.modifier and clause.modifier[:1].isupper() else None
    parsed = parse_reference(value, local_base)
    if parsed is not None and parsed.kind == "local" and parsed.resource_id is not None:
        if target_type is not None and parsed.resource_type != target_type:
            return "1 = 0"
        return (
            f"t.target_type = {b.arg(parsed.resource_type)} AND t.target_id = {b.arg(parsed.resource_id)} "
            "AND t.target_url IS NULL"
        )
    if "/" not in value and "|" not in value and ":" not in value:
        condition = f"t.target_id = {b.arg(value)} AND t.target_url IS NULL"
        if target_type is not None:
            condition += f" AND t.target_type = {b.arg(target_type)}"
        return condition
    url, _, version = value.partition("|")
    if version:
        return f"t.target_url = {b.arg(value)}"
    return f"(t.target_url = {b.arg(url)} OR t.target_url LIKE {b.arg(_escape_like(url) + '|%')} ESCAPE '\\')"


def _uri_condition(b: SqlBuilder, clause: Clause, value: str) -> str:
    value = value[:INDEXED_LENGTH]
    if clause.modifier == "below":
        return f"t.value LIKE {b.arg(_escape_like(value.rstrip('/')) + '%')} ESCAPE '\\'"
    if clause.modifier == "above":
        return f"{b.arg(value)} LIKE (REPLACE(REPLACE(t.value, '%', '\\%'), '_', '\\_') || '%') ESCAPE '\\'"
    return f"t.value = {b.arg(value)}"


def _index_clause(b: SqlBuilder, clause: Clause, resource_type: str, local_base: str | None) -> str:
    assert clause.parameter is not None
    table = _TABLE_BY_TYPE[clause.param_type]
    param_name = clause.code
    if clause.modifier == "identifier":
        table, param_name = "idx_token", f"{clause.code}:identifier"
    scope = f"t.res_type = {b.arg(resource_type)} AND t.param = {b.arg(param_name)}"
    if clause.modifier == "missing":
        operator = "NOT IN" if clause.values[0] == "true" else "IN"
        return f"r.pk {operator} (SELECT t.res_pk FROM {table} t WHERE {scope})"
    alternatives = []
    for value in clause.values:
        if clause.param_type == "token" or clause.modifier == "identifier":
            alternatives.append(_token_condition(b, clause, value))
        elif clause.param_type == "string":
            alternatives.append(_string_condition(b, clause, value))
        elif clause.param_type == "date":
            prefix, low, high = parse_date_value(value, clause.code)
            alternatives.append(date_condition(b, prefix, low, high, "t.low", "t.high"))
        elif clause.param_type == "reference":
            alternatives.append(_reference_condition(b, clause, value, local_base))
        else:
            alternatives.append(_uri_condition(b, clause, value))
    matched = " OR ".join(f"({a})" for a in alternatives)
    operator = "NOT IN" if clause.modifier == "not" else "IN"
    return f"r.pk {operator} (SELECT t.res_pk FROM {table} t WHERE {scope} AND ({matched}))"


def _column_clause(b: SqlBuilder, clause: Clause) -> str:
    if clause.code == "_id":
        return f"r.res_id {b.dialect.in_list(b.arg(list(clause.values)))}"
    alternatives = []
    for value in clause.values:
        prefix, low, high = parse_date_value(value, clause.code)
        alternatives.append(date_condition(b, prefix, low, high, "r.last_updated", "r.last_updated"))
    return " OR ".join(f"({a})" for a in alternatives)


def compile_search(
    query: SearchQuery, dialect: Dialect, local_base: str | None, *, limit: int
) -> tuple[str, list[object]]:
    """SQL for one page of matches: pk, id, version, last_updated, content."""
    b = SqlBuilder(dialect)
    conditions = [f"r.res_type = {b.arg(query.resource_type)}", "NOT r.deleted"]
    conditions.extend(_where(b, query, local_base))
    if query.cursor is not None:
        conditions.append(f"r.pk > {b.arg(query.cursor)}")
    sql = (
        "SELECT r.pk, r.res_id, r.version, r.last_updated, r.content FROM resources r WHERE "
        + " AND ".join(conditions)
        + f" ORDER BY r.pk LIMIT {b.arg(limit)}"
    )
    return sql, b.args


def compile_count(query: SearchQuery, dialect: Dialect, local_base: str | None) -> tuple[str, list[object]]:
    b = SqlBuilder(dialect)
    conditions = [f"r.res_type = {b.arg(query.resource_type)}", "NOT r.deleted", *_where(b, query, local_base)]
    return "SELECT COUNT(*) FROM resources r WHERE " + " AND ".join(conditions), b.args


def _where(b: SqlBuilder, query: SearchQuery, local_base: str | None) -> list[str]:
    out = []
    for clause in query.clauses:
        if clause.parameter is None:
            out.append(f"({_column_clause(b, clause)})")
        else:
            out.append(_index_clause(b, clause, query.resource_type, local_base))
    return out

"""Compiling a parsed search to SQL over the index tables (R4 search.html#ptypes).

Each clause becomes ``r.pk IN (SELECT res_pk FROM idx_… WHERE …)`` (``NOT IN`` for ``:not``
and ``:missing=true``), which both engines answer from the index first.  A chain nests the
search of the referenced type inside the reference clause; ``_has`` nests the search of the
referring type.  Without ``_sort`` results come in key order, so a key cursor makes ``next``
links that neither skip nor repeat a resource while others write; with ``_sort`` the order is
computed from the index and the whole result is kept as a snapshot (:mod:`.snapshots`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from fhirbridge.errors import bad_request
from fhirbridge.fhir.instants import from_datetime
from fhirbridge.fhir.references import parse_reference
from fhirbridge.search.dates import date_range
from fhirbridge.search.normalize import INDEXED_LENGTH, indexed, normalize_string
from fhirbridge.search.query import DATE_PREFIXES, Clause, SearchQuery, SortKey
from fhirbridge.storage.database import Dialect

_TABLE_BY_TYPE = {
    "token": "idx_token",
    "string": "idx_string",
    "date": "idx_date",
    "reference": "idx_reference",
    "uri": "idx_uri",
}
_SORT_COLUMN = {"token": "code", "string": "sortable", "reference": "target_id", "uri": "value"}
SELECT_COLUMNS = "r.pk, r.res_type, r.res_id, r.version, r.last_updated, r.content"


@dataclass
class SqlBuilder:
    """Collects parameters (``$1``, ``$2``…) and hands out fresh table aliases."""

    dialect: Dialect
    local_base: str | None = None
    args: list[object] = field(default_factory=list)
    aliases: int = 0

    def arg(self, value: object) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def alias(self, prefix: str) -> str:
        self.aliases += 1
        return f"{prefix}{self.aliases}"


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(b: SqlBuilder, column: str, pattern: str) -> str:
    return f"{column} LIKE {b.arg(pattern)} ESCAPE '\\'"


def _split_token(value: str) -> tuple[str | None, str | None, bool]:
    """(system, code, system given) of ``system|code``, ``|code``, ``system|`` or ``code``."""
    if "|" not in value:
        return None, value, False
    system, _, code = value.partition("|")
    return system, code or None, True


def _token_condition(b: SqlBuilder, t: str, modifier: str | None, value: str) -> str:
    if modifier == "text":
        words = _escape_like(normalize_string(value))
        return f"({_like(b, f'{t}.text', words + '%')} OR {_like(b, f'{t}.text', '% ' + words + '%')})"
    system, code, system_given = _split_token(value)
    parts = []
    if code is not None:
        parts.append(f"{t}.code = {b.arg(indexed(code))}")
    if system_given:
        parts.append(f"{t}.system = {b.arg(indexed(system))}" if system else f"{t}.system IS NULL")
    return " AND ".join(parts) or "1 = 1"


def _string_condition(b: SqlBuilder, t: str, modifier: str | None, value: str) -> str:
    if modifier == "exact":
        return f"{t}.exact = {b.arg(value)}"
    normalized = _escape_like(normalize_string(value)[:INDEXED_LENGTH])
    if modifier == "contains":
        return _like(b, f"{t}.normalized", "%" + normalized + "%")
    return _like(b, f"{t}.normalized", normalized + "%")


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


def _reference_condition(b: SqlBuilder, t: str, modifier: str | None, value: str) -> str:
    target_type = modifier if modifier and modifier[:1].isupper() else None
    parsed = parse_reference(value, b.local_base)
    if parsed is not None and parsed.kind == "local" and parsed.resource_id is not None:
        if target_type is not None and parsed.resource_type != target_type:
            return "1 = 0"
        return (
            f"{t}.target_type = {b.arg(parsed.resource_type)} AND {t}.target_id = {b.arg(parsed.resource_id)} "
            f"AND {t}.target_url IS NULL"
        )
    if "/" not in value and "|" not in value and ":" not in value:
        condition = f"{t}.target_id = {b.arg(value)} AND {t}.target_url IS NULL"
        if target_type is not None:
            condition += f" AND {t}.target_type = {b.arg(target_type)}"
        return condition
    url, _, version = value.partition("|")
    if version:
        return f"{t}.target_url = {b.arg(value)}"
    return f"({t}.target_url = {b.arg(url)} OR {_like(b, f'{t}.target_url', _escape_like(url) + '|%')})"


def _uri_condition(b: SqlBuilder, t: str, modifier: str | None, value: str) -> str:
    value = value[:INDEXED_LENGTH]
    if modifier == "below":
        return _like(b, f"{t}.value", _escape_like(value.rstrip("/")) + "%")
    if modifier == "above":
        return f"{b.arg(value)} LIKE (REPLACE(REPLACE({t}.value, '%', '\\%'), '_', '\\_') || '%') ESCAPE '\\'"
    return f"{t}.value = {b.arg(value)}"


def _value_condition(b: SqlBuilder, t: str, clause: Clause, value: str) -> str:
    if clause.param_type == "token" or clause.modifier == "identifier":
        return _token_condition(b, t, clause.modifier, value)
    if clause.param_type == "string":
        return _string_condition(b, t, clause.modifier, value)
    if clause.param_type == "date":
        prefix, low, high = parse_date_value(value, clause.code)
        return date_condition(b, prefix, low, high, f"{t}.low", f"{t}.high")
    if clause.param_type == "reference":
        return _reference_condition(b, t, clause.modifier, value)
    return _uri_condition(b, t, clause.modifier, value)


def _matching(b: SqlBuilder, resource_type: str, clause: Clause, column: str) -> str:
    """``SELECT r.<column>`` of the live resources of ``resource_type`` that satisfy ``clause``."""
    r = b.alias("r")
    return (
        f"SELECT {r}.{column} FROM resources {r} WHERE {r}.res_type = {b.arg(resource_type)} "
        f"AND NOT {r}.deleted AND {compile_clause(b, clause, resource_type, r)}"
    )


def compile_clause(b: SqlBuilder, clause: Clause, resource_type: str, r: str) -> str:
    """A condition on the resource row ``r`` (of ``resource_type``)."""
    if clause.code == "_has":
        assert clause.chained is not None
        assert clause.has_type is not None
        assert clause.parameter is not None
        t = b.alias("t")
        referring = _matching(b, clause.has_type, clause.chained, "pk")
        return (
            f"{r}.res_id IN (SELECT {t}.target_id FROM idx_reference {t} WHERE {t}.res_type = {b.arg(clause.has_type)} "
            f"AND {t}.param = {b.arg(clause.parameter.code)} AND {t}.target_type = {b.arg(resource_type)} "
            f"AND {t}.target_url IS NULL AND {t}.res_pk IN ({referring}))"
        )
    if clause.parameter is None:
        return _column_condition(b, clause, r)
    table = _TABLE_BY_TYPE[clause.param_type]
    param_name = clause.code
    if clause.modifier == "identifier":
        table, param_name = "idx_token", f"{clause.code}:identifier"
    t = b.alias("t")
    scope = f"{t}.res_type = {b.arg(resource_type)} AND {t}.param = {b.arg(param_name)}"
    if clause.chained is not None:
        alternatives = [
            f"({t}.target_type = {b.arg(target)} AND {t}.target_url IS NULL AND {t}.target_id IN "
            f"({_matching(b, target, clause.chained, 'res_id')}))"
            for target in clause.target_types
        ]
        return f"{r}.pk IN (SELECT {t}.res_pk FROM {table} {t} WHERE {scope} AND ({' OR '.join(alternatives)}))"
    if clause.modifier == "missing":
        operator = "NOT IN" if clause.values[0] == "true" else "IN"
        return f"{r}.pk {operator} (SELECT {t}.res_pk FROM {table} {t} WHERE {scope})"
    matched = " OR ".join(f"({_value_condition(b, t, clause, value)})" for value in clause.values)
    operator = "NOT IN" if clause.modifier == "not" else "IN"
    return f"{r}.pk {operator} (SELECT {t}.res_pk FROM {table} {t} WHERE {scope} AND ({matched}))"


def _column_condition(b: SqlBuilder, clause: Clause, r: str) -> str:
    if clause.code == "_id":
        return f"{r}.res_id {b.dialect.in_list(b.arg(list(clause.values)))}"
    alternatives = []
    for value in clause.values:
        prefix, low, high = parse_date_value(value, clause.code)
        alternatives.append(date_condition(b, prefix, low, high, f"{r}.last_updated", f"{r}.last_updated"))
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")"


def _where(b: SqlBuilder, query: SearchQuery) -> str:
    conditions = [f"r.res_type = {b.arg(query.resource_type)}", "NOT r.deleted"]
    conditions += [compile_clause(b, clause, query.resource_type, "r") for clause in query.clauses]
    return " AND ".join(conditions)


def _sort_expression(b: SqlBuilder, key: SortKey, resource_type: str) -> str:
    if key.parameter is None:
        return "r.res_id" if key.code == "_id" else "r.last_updated"
    table = _TABLE_BY_TYPE[key.parameter.type]
    t = b.alias("t")
    if key.parameter.type == "date":
        column, aggregate = ("high", "MAX") if key.descending else ("low", "MIN")
    else:
        column, aggregate = _SORT_COLUMN[key.parameter.type], "MIN"
    return (
        f"(SELECT {aggregate}({t}.{column}) FROM {table} {t} WHERE {t}.res_pk = r.pk "
        f"AND {t}.res_type = {b.arg(resource_type)} AND {t}.param = {b.arg(key.code)})"
    )


def order_by(b: SqlBuilder, query: SearchQuery) -> str:
    """ORDER BY for ``_sort`` (missing values last either way), ending with the key."""
    parts = []
    for key in query.sort:
        expression = _sort_expression(b, key, query.resource_type)
        parts.append(f"CASE WHEN {expression} IS NULL THEN 1 ELSE 0 END")
        parts.append(expression + (" DESC" if key.descending else ""))
    parts.append("r.pk")
    return ", ".join(parts)


def compile_page(
    query: SearchQuery, dialect: Dialect, local_base: str | None, *, limit: int
) -> tuple[str, list[object]]:
    """SQL for one page in key order (no ``_sort``), after the key cursor."""
    b = SqlBuilder(dialect, local_base)
    where = _where(b, query)
    if query.keyset_cursor is not None:
        where += f" AND r.pk > {b.arg(query.keyset_cursor)}"
    sql = f"SELECT {SELECT_COLUMNS} FROM resources r WHERE {where} ORDER BY r.pk LIMIT {b.arg(limit)}"
    return sql, b.args


def compile_sorted(
    query: SearchQuery, dialect: Dialect, local_base: str | None, *, limit: int
) -> tuple[str, list[object]]:
    """SQL for the first ``limit`` rows in ``_sort`` order."""
    b = SqlBuilder(dialect, local_base)
    where = _where(b, query)
    sql = f"SELECT {SELECT_COLUMNS} FROM resources r WHERE {where} ORDER BY {order_by(b, query)} LIMIT {b.arg(limit)}"
    return sql, b.args


def compile_snapshot(
    query: SearchQuery, dialect: Dialect, local_base: str | None, snapshot_id: str
) -> tuple[str, list[object]]:
    """INSERT … SELECT that keeps the whole sorted result as positions of a snapshot."""
    b = SqlBuilder(dialect, local_base)
    snapshot = b.arg(snapshot_id)
    where = _where(b, query)
    sql = (
        "INSERT INTO search_snapshot_rows (snapshot_id, position, res_pk) "
        f"SELECT {snapshot}, ROW_NUMBER() OVER (ORDER BY {order_by(b, query)}), r.pk FROM resources r WHERE {where}"
    )
    return sql, b.args


def compile_count(query: SearchQuery, dialect: Dialect, local_base: str | None) -> tuple[str, list[object]]:
    b = SqlBuilder(dialect, local_base)
    return f"SELECT COUNT(*) FROM resources r WHERE {_where(b, query)}", b.args


def compile_match_ids(
    query: SearchQuery, dialect: Dialect, local_base: str | None, *, limit: int
) -> tuple[str, list[object]]:
    """Ids of the first matches (conditional interactions)."""
    b = SqlBuilder(dialect, local_base)
    return f"SELECT r.res_id FROM resources r WHERE {_where(b, query)} ORDER BY r.pk LIMIT {b.arg(limit)}", b.args

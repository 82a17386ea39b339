"""What a Bulk Data kick-off asks for, checked before a job is stored (Bulk Data 2.0
export.html#query-parameters): ``_outputFormat``, ``_type``, ``_since`` and ``_typeFilter``.

A system export (``[base]/$export``) holds every resource of the types asked for; a Patient
export (``[base]/Patient/$export``) the Patients and the resources of their compartments (the
types with a ``patient`` search parameter, those that name one); a Group export
(``[base]/Group/[id]/$export``, export.html#endpoint---group-of-patients) the same of the
Group's members only, as listed at kick-off (:attr:`ExportPlan.members`), searched
:data:`MEMBERS_AT_ONCE` at a time.  Each type becomes one search
(:func:`type_query`): the ``_typeFilter`` of the type and ``_lastUpdated`` after ``_since``;
the writer leaves out what changed after the job's ``transactionTime``
(export.html#response---complete-status: it is left to the next export with ``_since``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal
from urllib.parse import parse_qsl

from fhirbridge.errors import FhirError, bad_request
from fhirbridge.fhir.instants import format_instant, parse_instant
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.search.parameters import search_parameters
from fhirbridge.search.query import SearchQuery, parse_query

Level = Literal["system", "patient", "group"]
NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
NOT_EXPORTED = frozenset({"Subscription"})
"""Subscriptions carry their owners' endpoints and headers (secrets): never exported."""
EXPORTED = tuple(t for t in STORED_TYPES if t not in NOT_EXPORTED)
DEFAULT_LEFT_OUT = frozenset({"AuditEvent"})
"""The access log is exported only when ``_type`` names it: it dwarfs the records."""
PATIENT_TYPES = tuple(t for t in EXPORTED if t == "Patient" or "patient" in search_parameters(t))
"""The types of a Patient export: the Patients and what names a patient (their compartments)."""
PAGE = 1000
"""Resources read at a time: what bounds the writer's memory."""
MEMBERS_AT_ONCE = 100
"""Group members one search names (``patient=Patient/a,Patient/b,…``)."""
_KNOWN = frozenset({"_outputFormat", "_type", "_since", "_typeFilter", "_format", "_pretty"})


@dataclass(frozen=True)
class ExportPlan:
    """A checked kick-off: the level, the types in order, ``_since`` (µs) and the type filters."""

    level: Level
    types: tuple[str, ...]
    since: int | None = None
    type_filters: tuple[tuple[str, str], ...] = ()
    """``(type, query string)``: at most one a type."""
    group: str | None = None
    """A Group export's Group id."""
    members: tuple[str, ...] = ()
    """A Group export's member Patients' ids, as the Group listed them at kick-off."""

    def member_batches(self) -> list[tuple[str, ...] | None]:
        """The members a search names at a time; ``[None]`` (no restriction) unless a Group export."""
        if self.level != "group":
            return [None]
        return [self.members[i : i + MEMBERS_AT_ONCE] for i in range(0, len(self.members), MEMBERS_AT_ONCE)]

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_text(cls, text: str) -> ExportPlan:
        parts = json.loads(text)
        return cls(
            parts["level"],
            tuple(parts["types"]),
            parts["since"],
            tuple((t, q) for t, q in parts["type_filters"]),
            parts.get("group"),
            tuple(parts.get("members") or ()),
        )


def parse_plan(level: Level, query: list[tuple[str, str]], *, now: int) -> ExportPlan:
    """The plan of a kick-off's parameters; a 400 naming the parameter for an unknown output
    format or type, a malformed or future ``_since``, a ``_typeFilter`` that is no search of an
    exported type, or a parameter this server does not support."""
    for name, _ in query:
        if name not in _KNOWN:
            raise bad_request(f"{name} is not a parameter of $export on this server", name, code="not-supported")
    values = {name: [v for n, v in query if n == name] for name in _KNOWN}
    for name in ("_outputFormat", "_since", "_type"):
        if len(values[name]) > 1:
            raise bad_request(f"{name} may be given once", name)
    output_format = (values["_outputFormat"] or [NDJSON])[0]
    if output_format not in OUTPUT_FORMATS:
        raise bad_request(f"_outputFormat {output_format!r} is not supported: use {NDJSON}", "_outputFormat")
    allowed = EXPORTED if level == "system" else PATIENT_TYPES
    types = _types(values["_type"], allowed, level)
    since = None
    if values["_since"]:
        since = parse_instant(values["_since"][0], "_since")
        if since > now:
            raise bad_request(f"_since {values['_since'][0]} is in the future", "_since")
    filters = _type_filters(values["_typeFilter"], types)
    plan = ExportPlan(level, types, since, filters)
    for resource_type in types:
        type_query(plan, resource_type)  # a filter that is no valid search is a 400 now
    return plan


def _types(given: list[str], allowed: tuple[str, ...], level: Level) -> tuple[str, ...]:
    if not given:
        return tuple(t for t in allowed if t not in DEFAULT_LEFT_OUT)
    named = [t.strip() for t in given[0].split(",") if t.strip()]
    if not named:
        raise bad_request("_type names no resource type", "_type")
    for resource_type in named:
        if resource_type not in allowed:
            compartments = level != "system" and resource_type in EXPORTED
            where = "a Patient or Group export" if compartments else "this server's export"
            raise bad_request(f"_type {resource_type} is not a resource type of {where}", "_type")
    return tuple(dict.fromkeys(named))


def _type_filters(given: list[str], types: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    filters: dict[str, str] = {}
    for value in given:
        for item in value.split(","):  # each a [type]?[query], URL-encoded (export.html#_typefilter)
            resource_type, mark, search = item.partition("?")
            if not mark or not search:
                raise bad_request(f"_typeFilter {item!r} is not [type]?[search parameters]", "_typeFilter")
            if resource_type not in types:
                raise bad_request(f"_typeFilter names {resource_type!r}, not a type of this export", "_typeFilter")
            if resource_type in filters:
                raise bad_request(
                    f"_typeFilter: one filter a type on this server ({resource_type} has two)",
                    "_typeFilter",
                    code="not-supported",
                )
            filters[resource_type] = search
    return tuple(filters.items())


def type_query(plan: ExportPlan, resource_type: str, members: tuple[str, ...] | None = None) -> SearchQuery:
    """The search that finds what the plan exports of one type, a page of :data:`PAGE` at a time
    in key order, of the Group ``members`` given (a batch of :meth:`ExportPlan.member_batches`);
    a 400 naming ``_typeFilter`` when its search is not one this server knows.

    The bound at the job's ``transactionTime`` is left to the writer
    (:mod:`fhirbridge.export.writer`): as a clause it would let the database read the type by
    its ``last_updated`` index and sort every row of it by key for each page."""
    pairs: list[tuple[str, str]] = []
    own = dict(plan.type_filters).get(resource_type)
    if own is not None:
        pairs += parse_qsl(own, keep_blank_values=True)
        for name, _ in pairs:
            if name.startswith("_") and name not in ("_id", "_lastUpdated", "_tag", "_profile", "_security"):
                raise bad_request(f"_typeFilter may not use {name}", "_typeFilter")
    if plan.since is not None:
        pairs.append(("_lastUpdated", "gt" + format_instant(plan.since)))
    if plan.level == "patient" and resource_type != "Patient":
        pairs.append(("patient:missing", "false"))
    if members is not None and resource_type == "Patient":
        pairs.append(("_id", ",".join(members)))
    elif members is not None:
        pairs.append(("patient", ",".join(f"Patient/{member}" for member in members)))
    try:
        return parse_query(resource_type, pairs, strict=True, default_count=PAGE, max_count=PAGE)
    except FhirError as refused:
        why = "; ".join(issue.diagnostics for issue in refused.issues)
        raise bad_request(f"_typeFilter for {resource_type}: {why}", "_typeFilter") from None

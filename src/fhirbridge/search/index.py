"""Search index extraction: the rows each resource contributes to the ``idx_*`` tables.

For every search parameter of the resource's type, the compiled expression selects the
nodes, and the node's data type decides the index values (R4 search.html#ptypes):
Coding/CodeableConcept/Identifier/ContactPoint/code/boolean to tokens, HumanName and
Address parts to strings, date/dateTime/instant/Period/Timing to date ranges, Reference and
canonical to references, uri to uris.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhirbridge.fhir.references import parse_reference
from fhirbridge.search.dates import MAX_TIME, MIN_TIME, date_range
from fhirbridge.search.normalize import INDEXED_LENGTH, indexed, normalize_string, swedish_sort_key
from fhirbridge.search.parameters import COLUMN_PARAMETERS, SearchParameter, search_parameters

TokenRow = tuple[str, str | None, str | None, str | None]  # param, system, code, normalized text
StringRow = tuple[str, str, str, str]  # param, normalized, exact, Swedish sort key
DateRow = tuple[str, int, int]  # param, low, high
ReferenceRow = tuple[str, str | None, str | None, str | None]  # param, target type, target id, url
UriRow = tuple[str, str]  # param, value

_HUMAN_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")
_MAX_STRING = 2000


@dataclass
class IndexRows:
    """Everything one resource version puts into the search index."""

    token: list[TokenRow] = field(default_factory=list)
    string: list[StringRow] = field(default_factory=list)
    date: list[DateRow] = field(default_factory=list)
    reference: list[ReferenceRow] = field(default_factory=list)
    uri: list[UriRow] = field(default_factory=list)


def _text(value: Any) -> str | None:
    return normalize_string(value) if isinstance(value, str) else None


def _tokens(param: str, node: Any, out: list[TokenRow]) -> None:
    if isinstance(node, bool):
        out.append((param, None, "true" if node else "false", None))
    elif isinstance(node, str | int | float):
        out.append((param, None, indexed(str(node)), None))
    elif isinstance(node, dict):
        if "coding" in node or ("text" in node and "system" not in node and "value" not in node):
            text = node.get("text")
            codings = node.get("coding") or []
            for coding in codings:
                if isinstance(coding, dict):
                    out.append(
                        (
                            param,
                            indexed(coding.get("system")),
                            indexed(coding.get("code")),
                            _text(text or coding.get("display")),
                        )
                    )
            if text and not codings:
                out.append((param, None, None, _text(text)))
        elif "code" in node:  # Coding
            out.append((param, indexed(node.get("system")), indexed(node.get("code")), _text(node.get("display"))))
        elif "value" in node:
            system = node.get("system")
            if system in ("phone", "fax", "email", "pager", "url", "sms", "other"):
                system = None  # a ContactPoint: its system is a kind of channel, not a namespace
            type_text = node["type"].get("text") if isinstance(node.get("type"), dict) else None
            out.append((param, indexed(system), indexed(str(node["value"])), _text(type_text)))


def _strings(param: str, node: Any, out: list[StringRow]) -> None:
    if isinstance(node, str):
        exact = node[:_MAX_STRING]
        out.append((param, normalize_string(exact)[:INDEXED_LENGTH], exact, swedish_sort_key(exact)))
    elif isinstance(node, dict):
        parts = _HUMAN_NAME_PARTS if ("family" in node or "given" in node) else _ADDRESS_PARTS
        for part in parts:
            value = node.get(part)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    _strings(param, item, out)


def _dates(param: str, node: Any, out: list[DateRow]) -> None:
    if isinstance(node, str):
        found = date_range(node)
        if found is not None:
            out.append((param, *found))
    elif isinstance(node, dict):
        if "start" in node or "end" in node:  # Period
            start = date_range(node["start"]) if isinstance(node.get("start"), str) else None
            end = date_range(node["end"]) if isinstance(node.get("end"), str) else None
            out.append((param, start[0] if start else MIN_TIME, end[1] if end else MAX_TIME))
        else:  # Timing
            for event in node.get("event") or []:
                _dates(param, event, out)
            repeat = node.get("repeat")
            if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
                _dates(param, repeat["boundsPeriod"], out)


def _references(param: str, node: Any, rows: IndexRows, local_base: str | None) -> None:
    if isinstance(node, str):  # canonical or uri
        rows.reference.append((param, None, None, node))
        return
    if not isinstance(node, dict):
        return
    text = node.get("reference")
    if isinstance(text, str):
        parsed = parse_reference(text, local_base)
        if parsed is not None and parsed.kind == "local":
            rows.reference.append((param, parsed.resource_type, parsed.resource_id, None))
        elif parsed is not None and parsed.kind == "absolute":
            rows.reference.append((param, parsed.resource_type, parsed.resource_id, text))
    identifier = node.get("identifier")
    if isinstance(identifier, dict) and "value" in identifier:
        rows.token.append(
            (f"{param}:identifier", indexed(identifier.get("system")), indexed(str(identifier["value"])), None)
        )


def add_nodes(param: SearchParameter, nodes: list[Any], rows: IndexRows, local_base: str | None) -> None:
    """Index the nodes a parameter's expression selected (what :func:`extract_index` does with
    them; also for extractors that select them without FHIRPath, :mod:`fhirbridge.audit.index`)."""
    code = param.code
    kind = param.type
    for node in nodes:
        if kind == "token":
            _tokens(code, node, rows.token)
        elif kind == "string":
            _strings(code, node, rows.string)
        elif kind == "date":
            _dates(code, node, rows.date)
        elif kind == "reference":
            _references(code, node, rows, local_base)
        elif kind == "uri" and isinstance(node, str):
            rows.uri.append((code, node[:INDEXED_LENGTH]))


def extract_index(
    resource_type: str, resource: dict[str, Any], local_base: str | None = None, *, kinds: frozenset[str] | None = None
) -> IndexRows:
    """The index rows of one resource (without ``_id`` and ``_lastUpdated``, kept as columns);
    with ``kinds``, only those of parameters of these types (``{"reference"}``: what it names).

    References to ``local_base`` (this server) are indexed as local ``Type/id``."""
    rows = IndexRows()
    present = resource.keys()
    for param in search_parameters(resource_type).values():
        if param.code in COLUMN_PARAMETERS or (param.root_keys is not None and param.root_keys.isdisjoint(present)):
            continue
        if kinds is not None and param.type not in kinds:
            continue
        nodes = param.evaluate(resource)
        if nodes:
            add_nodes(param, nodes, rows, local_base)
    return rows

"""``_summary`` and ``_elements``: returning part of a resource (R4 search.html#summary,
search.html#elements).

A shaped resource carries the ``SUBSETTED`` tag (v3-ObservationValue) so that nobody takes
it for the whole and writes it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirbridge.errors import bad_request
from fhirbridge.fhir.definitions import ElementSpec, definitions
from fhirbridge.fhir.jsonio import dumps, loads
from fhirbridge.storage.records import StoredResource

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
SUMMARY_MODES = ("true", "text", "data", "count", "false")
_ALWAYS = ("resourceType", "id", "meta")


@dataclass(frozen=True)
class Shape:
    """How to cut resources: a ``_summary`` mode or a set of ``_elements`` (or neither)."""

    summary: str | None = None
    elements: frozenset[str] | None = None

    @property
    def whole(self) -> bool:
        return self.summary in (None, "false") and self.elements is None

    @classmethod
    def for_read(cls, query: list[tuple[str, str]]) -> Shape:
        """The shape a read or vread asks for: ``_summary=count`` is for searches only (R4
        search.html#summary), so on a read it is a 400 naming it rather than a shape."""
        how = cls.from_query(query)
        if how.summary == "count":
            raise bad_request("_summary=count applies to searches only, not to a read", "_summary")
        return how

    @classmethod
    def from_query(cls, query: list[tuple[str, str]]) -> Shape:
        summary = None
        elements: set[str] | None = None
        for name, value in query:
            if name == "_summary":
                if value not in SUMMARY_MODES:
                    raise bad_request(f"_summary is one of {', '.join(SUMMARY_MODES)}, not {value!r}", "_summary")
                summary = value
            elif name == "_elements":
                names = {part.strip().rsplit(".", 1)[-1] for part in value.split(",") if part.strip()}
                elements = (elements or set()) | names
        if summary not in (None, "false") and elements is not None:
            raise bad_request("_summary and _elements cannot be combined", "_elements")
        return cls(summary, frozenset(elements) if elements is not None else None)


def _summary_only(value: Any, elements: dict[str, ElementSpec]) -> Any:
    out = {}
    for key, item in value.items():
        spec = elements.get(key.lstrip("_"))
        if spec is None or not (spec.summary or spec.min > 0):
            continue
        if spec.children is not None:
            item = (
                [_summary_only(i, spec.children) for i in item]
                if isinstance(item, list)
                else _summary_only(item, spec.children)
            )
        out[key] = item
    return out


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    return {**resource, "meta": meta}


def shaped_content(record: StoredResource, how: Shape) -> bytes:
    """The stored bytes as they are, or the part that ``how`` asks for."""
    content = record.content or b"{}"
    if how.whole:
        return content
    return dumps(shape(loads(content), how))


def shape(resource: dict[str, Any], how: Shape) -> dict[str, Any]:
    """The part of ``resource`` that ``how`` asks for."""
    if how.whole:
        return resource
    table = definitions().types[resource["resourceType"]]
    if how.summary == "data":
        return _tagged({k: v for k, v in resource.items() if k != "text"})
    if how.summary == "text":
        keep = set(_ALWAYS) | {"text"} | set(table.required_names)
        return _tagged({k: v for k, v in resource.items() if k.lstrip("_") in keep})
    if how.summary == "true":
        return _tagged({"resourceType": resource["resourceType"], **_summary_only(resource, table.elements)})
    assert how.elements is not None
    keep = set(_ALWAYS) | set(table.required_names) | how.elements
    return _tagged({k: v for k, v in resource.items() if k.lstrip("_") in keep})

"""Parsing FHIR references (R4 references.html#Reference and http.html#general).

A ``Reference.reference`` is a relative URL (``Patient/123``, optionally ``/_history/2``), an
absolute URL (``https://host/fhir/Patient/123``), an internal reference to a contained
resource (``#p1``), a ``urn:uuid:``/``urn:oid:`` identifier (transactions), or - inside a
transaction only - a conditional reference (``Patient?identifier=…``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

ReferenceKind = Literal["local", "absolute", "contained", "urn", "conditional"]

ID_PATTERN = r"[A-Za-z0-9\-\.]{1,64}"
ID_RULE = "1 to 64 characters of A-Z, a-z, 0-9, '-' and '.'"
"""R4 datatypes.html#id, in words for the clients whose ids break it."""
_RESTFUL = re.compile(
    rf"^(?:(?P<base>https?://[^?#\s]+?)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>{ID_PATTERN})(?:/_history/(?P<vid>{ID_PATTERN}))?$"
)
_CONDITIONAL = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)\?(?P<query>.+)$")
_URN = re.compile(
    r"^urn:(?:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|oid:[0-2](?:\.(?:0|[1-9]\d*))+)$"
)
_ID = re.compile(rf"^{ID_PATTERN}$")
_ADDRESS_SHAPED = re.compile(
    r"^(?:(?P<base>https?://[^?#\s]+?)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[^/?#]*)(?:/_history/(?P<vid>[^/?#]*))?$"
)
"""``Type/id`` and its absolute and versioned forms with any id: to say what is wrong with the id."""


PARSED_KEPT = 65_536
"""Reference strings whose classification is kept (least recently used first out)."""


@dataclass(frozen=True)
class ParsedReference:
    """What a reference string points at; ``resource_type`` is None when the form has none."""

    kind: ReferenceKind
    text: str
    resource_type: str | None = None
    resource_id: str | None = None
    version: str | None = None
    base: str | None = None
    query: str | None = None


def is_valid_id(value: str) -> bool:
    return _ID.match(value) is not None


def quoted(value: str, limit: int = 100) -> str:
    """``value`` in quotes for a message, shortened when it is long (a hostile id may be huge)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def id_problem(resource_id: str) -> str | None:
    """Why ``resource_id`` cannot be the id of a resource, or None when it can."""
    return None if is_valid_id(resource_id) else f"{quoted(resource_id)} is not a FHIR id ({ID_RULE})"


def is_on_server(text: str, local_base: str | None) -> bool:
    """Whether ``text`` is an absolute URL under this server's FHIR base."""
    return local_base is not None and text.startswith(local_base.rstrip("/") + "/")


def reference_problem(text: str, local_base: str | None = None) -> str:
    """Why ``text`` is not a reference FHIR allows, or, under this server's base, names no
    resource here; for the client's OperationOutcome."""
    shaped = _ADDRESS_SHAPED.match(text)
    if shaped is not None:
        for part in ("id", "vid"):
            value = shaped.group(part)
            problem = id_problem(value) if value is not None else None
            if problem is not None:
                what = "the version" if part == "vid" else "the id"
                return f"{quoted(text)} names no resource: {what} {problem}"
    if is_on_server(text, local_base):
        return f"{quoted(text)} is an address on this server that names no resource ([base]/Type/id)"
    return f"{quoted(text)} is not a valid reference (Type/id, an absolute URL, #id or urn:)"


@lru_cache(maxsize=PARSED_KEPT)
def parse_reference(text: str, local_base: str | None = None) -> ParsedReference | None:
    """Classify a reference string; None when it is none of the forms FHIR allows.

    An absolute URL whose base is ``local_base`` (this server's ``…/fhir``) counts as local.
    The answers are kept (:data:`PARSED_KEPT`): the access policy and the search index ask
    about the same references dozens of times per request, and an answer never changes.
    """
    if text.startswith("#"):
        return ParsedReference("contained", text, resource_id=text[1:] or None)
    if text.startswith("urn:"):
        return ParsedReference("urn", text) if _URN.match(text) else None
    match = _RESTFUL.match(text)
    if match is not None:
        base = match.group("base")
        kind: ReferenceKind = "local"
        if base is not None and (local_base is None or base.rstrip("/") != local_base.rstrip("/")):
            kind = "absolute"
        return ParsedReference(kind, text, match.group("type"), match.group("id"), match.group("vid"), base=base)
    conditional = _CONDITIONAL.match(text)
    if conditional is not None:
        return ParsedReference("conditional", text, conditional.group("type"), query=conditional.group("query"))
    if text.startswith(("http://", "https://")):
        # An absolute URL to something that is not a RESTful FHIR address (a document, a web page).
        return ParsedReference("absolute", text)
    return None


def referenced_type(node: Any) -> str | None:
    """The type a Reference names: its literal reference's type, else its declared ``type``
    (R4 references.html#Reference); None when it says neither (an identifier or display only)."""
    if not isinstance(node, dict):
        return None
    text = node.get("reference")
    if isinstance(text, str):
        parsed = parse_reference(text)
        if parsed is not None and parsed.resource_type:
            return parsed.resource_type
    declared = node.get("type")
    return declared if isinstance(declared, str) else None


def named_targets(element: Any) -> set[tuple[str, str]]:
    """Every resource (``(type, id)``) a Reference anywhere in ``element`` names by address
    (relative, absolute or versioned), contained resources and extensions included: what a
    resource, as shown, tells of others."""
    found: set[tuple[str, str]] = set()
    stack = [element]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            text = item.get("reference")
            parsed = parse_reference(text) if isinstance(text, str) else None
            if parsed is not None and parsed.resource_type and parsed.resource_id:
                found.add((parsed.resource_type, parsed.resource_id))
            stack.extend(item.values())
    return found

"""Searchset and history Bundles (R4 bundle.html, http.html#history, search.html#bundle).

Entries embed the stored JSON bytes as they are: a page of results is spliced together
rather than parsed and serialised again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fhirbridge.errors import Issue
from fhirbridge.fhir.instants import format_instant, now_us
from fhirbridge.fhir.jsonio import dumps
from fhirbridge.fhir.outcome import operation_outcome
from fhirbridge.storage.records import HistoryEntry

_HISTORY_STATUS = {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}


def page_url(base_url: str, path: str, query: list[tuple[str, str]], cursor: str | int | None = None) -> str:
    """A link to ``path`` with ``query``, its ``_cursor`` replaced by ``cursor`` (when given)."""
    kept = [(k, v) for k, v in query if k != "_cursor"]
    if cursor is not None:
        kept.append(("_cursor", str(cursor)))
    encoded = urlencode(kept, safe="|,:/")
    return f"{base_url}/{path}" + (f"?{encoded}" if encoded else "")


def _splice(head: dict[str, Any], entries: Iterable[bytes]) -> bytes:
    items = b",".join(entries)
    body = dumps(head)
    if not items:
        return body
    return body[:-1] + b',"entry":[' + items + b"]}"


def _head(bundle_type: str, links: list[tuple[str, str]], total: int | None) -> dict[str, Any]:
    head: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(now_us())},
        "type": bundle_type,
    }
    if total is not None:
        head["total"] = total
    head["link"] = [{"relation": relation, "url": url} for relation, url in links]
    return head


@dataclass(frozen=True)
class SearchEntry:
    """One entry of a searchset: the stored (or shaped) JSON and why it is there."""

    full_url: str
    content: bytes
    mode: str = "match"


def searchset(
    entries_in: list[SearchEntry],
    links: list[tuple[str, str]],
    total: int | None,
    warnings: list[Issue],
) -> bytes:
    """A searchset Bundle; ignored parameters are reported in an OperationOutcome entry."""
    entries = [
        b'{"fullUrl":' + dumps(e.full_url) + b',"resource":' + e.content + b',"search":{"mode":' + dumps(e.mode) + b"}}"
        for e in entries_in
    ]
    if warnings:
        entries.append(b'{"resource":' + dumps(operation_outcome(warnings)) + b',"search":{"mode":"outcome"}}')
    return _splice(_head("searchset", links, total), entries)


def history(base_url: str, rows: list[HistoryEntry], links: list[tuple[str, str]]) -> bytes:
    """A history Bundle, newest version first; a deletion has a request but no resource."""
    entries = []
    for row in rows:
        address = f"{row.resource_type}/{row.resource_id}"
        request = {"method": row.method, "url": row.resource_type if row.method == "POST" else address}
        response = {
            "status": _HISTORY_STATUS.get(row.method, "200 OK"),
            "etag": f'W/"{row.version}"',
            "lastModified": format_instant(row.last_updated),
        }
        parts = b'{"fullUrl":' + dumps(f"{base_url}/{address}")
        if row.content is not None:
            parts += b',"resource":' + row.content
        parts += b',"request":' + dumps(request) + b',"response":' + dumps(response) + b"}"
        entries.append(parts)
    return _splice(_head("history", links, None), entries)

"""The route table: one row per FHIR interaction, mirroring R4 http.html#summary.

The HTTP app registers these rows and the CapabilityStatement is generated from them, so
what the server says it does and what it does cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from fhirbridge.rest.interactions import capabilities, create, delete, history, read, search, update
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse

Handler = Callable[[ServiceContext, FhirRequest], Awaitable[FhirResponse]]
Level = Literal["system", "type", "instance"]


@dataclass(frozen=True)
class Route:
    """``method path`` under the FHIR base, the handler, and the R4 interaction code it implements."""

    method: str
    path: str
    handler: Handler
    interaction: str
    level: Level
    summary: str
    conditional: bool = False
    takes_body: bool = False


ROUTES: tuple[Route, ...] = (
    Route("GET", "/metadata", capabilities.capabilities, "capabilities", "system", "CapabilityStatement"),
    Route("GET", "/_history", history.history, "history-system", "system", "History of every resource"),
    Route("GET", "/{type}", search.search, "search-type", "type", "Search"),
    Route("POST", "/{type}/_search", search.search_post, "search-type", "type", "Search with form parameters"),
    Route("GET", "/{type}/_history", history.history, "history-type", "type", "History of a type"),
    Route(
        "POST",
        "/{type}",
        create.create,
        "create",
        "type",
        "Create (If-None-Exist: conditional)",
        conditional=True,
        takes_body=True,
    ),
    Route(
        "PUT",
        "/{type}",
        update.conditional_update,
        "update",
        "type",
        "Conditional update by search",
        conditional=True,
        takes_body=True,
    ),
    Route(
        "DELETE",
        "/{type}",
        delete.conditional_delete,
        "delete",
        "type",
        "Conditional delete by search",
        conditional=True,
    ),
    Route("GET", "/{type}/{id}", read.read, "read", "instance", "Read"),
    Route(
        "PUT",
        "/{type}/{id}",
        update.update,
        "update",
        "instance",
        "Update or create with this id (If-Match)",
        takes_body=True,
    ),
    Route("DELETE", "/{type}/{id}", delete.delete, "delete", "instance", "Delete"),
    Route("GET", "/{type}/{id}/_history", history.history, "history-instance", "instance", "History of a resource"),
    Route("GET", "/{type}/{id}/_history/{vid}", read.vread, "vread", "instance", "Read a version"),
)


def interactions(level: Level | None = None) -> set[str]:
    return {route.interaction for route in ROUTES if level is None or route.level == level}


def supports_conditional(interaction: str) -> bool:
    return any(route.conditional and route.interaction == interaction for route in ROUTES)

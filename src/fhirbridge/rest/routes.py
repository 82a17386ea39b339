"""The route table: one row per FHIR interaction, mirroring R4 http.html#summary.

The HTTP app registers these rows and the CapabilityStatement is generated from them, so
what the server says it does and what it does cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from fhirbridge.access.compartment import SERVER_WRITTEN
from fhirbridge.conformance.registry import CONFORMANCE_TYPES
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest.interactions import (
    capabilities,
    conformance,
    create,
    delete,
    history,
    patch,
    read,
    search,
    search_system,
    transaction,
    update,
)
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.rest.operations import (
    emergency_access,
    evaluate_measure,
    everything,
    export,
    extract,
    fixed_contacts,
    merge,
    meta,
    meta_change,
    revisions,
    subscription_events,
    topic_list,
    validate,
)

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
    also: tuple[str, ...] = ()
    """Further interaction codes the same route serves (``batch`` beside ``transaction``)."""
    operation: str | None = None
    """For an operation (R4 operations.html), its name without ``$``."""
    definition: str | None = None
    """The canonical URL of the operation's OperationDefinition."""
    operation_types: tuple[str, ...] = ()
    """The resource types the operation is defined for."""
    fixed_type: str | None = None
    """The resource type of a route whose path names it (``/StructureDefinition/{id}``)."""
    conformance: bool = False
    """A read-only route for the conformance resources that come with the server."""


CONFORMANCE_ROUTES: tuple[Route, ...] = tuple(
    route
    for conformance_type in CONFORMANCE_TYPES
    for route in (
        Route(
            "GET",
            f"/{conformance_type}/{{id}}",
            conformance.read,
            "read",
            "instance",
            f"Read one of the server's {conformance_type}s",
            fixed_type=conformance_type,
            conformance=True,
        ),
        Route(
            "GET",
            f"/{conformance_type}",
            conformance.search,
            "search-type",
            "type",
            f"Search the server's {conformance_type}s by url, _id or name",
            fixed_type=conformance_type,
            conformance=True,
        ),
    )
)
"""Registered before the routes with a ``{type}`` so that they match first."""

_VALIDATE_ROUTES: tuple[tuple[str, Level, str, str], ...] = (
    ("POST", "type", f"/{{type}}/${validate.NAME}", "Validate a resource without storing it"),
    ("POST", "instance", f"/{{type}}/{{id}}/${validate.NAME}", "Validate an update (or a deletion) without doing it"),
    ("GET", "instance", f"/{{type}}/{{id}}/${validate.NAME}", "Validate the stored resource"),
)
"""$validate at type and instance level (R4 resource-operation-validate.html)."""

EXPORT_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        f"/${export.NAME}",
        export.kick_off,
        "operation",
        "system",
        "Bulk Data export of everything the caller may read (Prefer: respond-async; NDJSON files)",
        operation=export.NAME,
        definition=export.SYSTEM_DEFINITION,
    ),
    Route(
        "GET",
        f"/Patient/${export.NAME}",
        export.kick_off,
        "operation",
        "type",
        "Bulk Data export of the Patients and their compartments (Prefer: respond-async; NDJSON files)",
        operation=export.NAME,
        definition=export.PATIENT_DEFINITION,
        operation_types=("Patient",),
        fixed_type="Patient",
    ),
    Route(
        "GET",
        f"/Group/{{id}}/${export.NAME}",
        export.kick_off,
        "operation",
        "instance",
        "Bulk Data export of a Group's member Patients and their compartments (Prefer: respond-async; NDJSON)",
        operation=export.NAME,
        definition=export.GROUP_DEFINITION,
        operation_types=("Group",),
        fixed_type="Group",
    ),
)
"""Bulk Data 2.0 kick-offs, before ``/{type}`` and ``/{type}/{id}`` would take them."""

TOPIC_LIST_ROUTES: tuple[Route, ...] = tuple(
    Route(
        method,
        f"/Subscription/${topic_list.NAME}",
        topic_list.topic_list,
        "operation",
        "type",
        "The canonical URLs of the subscription topics this server offers",
        operation=topic_list.NAME,
        definition=topic_list.DEFINITION,
        operation_types=("Subscription",),
        fixed_type="Subscription",
    )
    for method in ("GET", "POST")
)
"""Registered before ``/{type}/{id}``, which would take ``$topic-list`` for an id."""

_META_LEVELS: tuple[tuple[str, Handler, Level, str], ...] = (
    (
        f"/${meta.NAME}",
        meta.meta_system,
        "system",
        "The profiles, tags and security labels in use that the caller may see",
    ),
    (
        f"/{{type}}/${meta.NAME}",
        meta.meta_type,
        "type",
        "The profiles, tags and security labels in use on the type that the caller may see",
    ),
)
META_ROUTES: tuple[Route, ...] = tuple(
    Route(
        method,
        path,
        handler,
        "operation",
        level,
        summary,
        operation=meta.NAME,
        definition=meta.DEFINITION,
        operation_types=STORED_TYPES if level == "type" else (),  # the system level is the server's
    )
    for path, handler, level, summary in _META_LEVELS
    for method in ("GET", "POST")  # R4 operations.html: POST always; GET as it changes nothing
)
"""$meta at system and type level, before ``/{type}`` and ``/{type}/{id}`` would take them."""

ROUTES: tuple[Route, ...] = (
    *CONFORMANCE_ROUTES,
    *EXPORT_ROUTES,
    *TOPIC_LIST_ROUTES,
    *META_ROUTES,
    Route("GET", "/metadata", capabilities.capabilities, "capabilities", "system", "CapabilityStatement"),
    Route(
        "GET",
        "/_history",
        history.history,
        "history-system",
        "system",
        "History of every resource; _sort=_lastUpdated: the change feed, in commit order",
    ),
    Route(
        "GET",
        "",
        search_system.search_system,
        "search-system",
        "system",
        "Search the types named by _type with the common parameters",
    ),
    Route(
        "POST",
        "",
        transaction.transaction_or_batch,
        "transaction",
        "system",
        "Transaction or batch Bundle",
        takes_body=True,
        also=("batch",),
    ),
    Route("GET", "/{type}", search.search, "search-type", "type", "Search"),
    Route("POST", "/{type}/_search", search.search_post, "search-type", "type", "Search with form parameters"),
    Route(
        "GET",
        "/{type}/_history",
        history.history,
        "history-type",
        "type",
        "History of a type; _sort=_lastUpdated: the change feed, in commit order",
    ),
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
        "PATCH",
        "/{type}",
        patch.conditional_patch,
        "patch",
        "type",
        "Conditional patch by search (JSON Patch)",
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
    Route(
        "PATCH",
        "/{type}/{id}",
        patch.patch,
        "patch",
        "instance",
        "Patch with a JSON Patch document (If-Match)",
        takes_body=True,
    ),
    Route("DELETE", "/{type}/{id}", delete.delete, "delete", "instance", "Delete"),
    Route("GET", "/{type}/{id}/_history", history.history, "history-instance", "instance", "History of a resource"),
    Route("GET", "/{type}/{id}/_history/{vid}", read.vread, "vread", "instance", "Read a version"),
    *(
        Route(
            method,
            f"/Patient/{{id}}/${fixed_contacts.NAME}",
            fixed_contacts.fixed_contacts,
            "operation",
            "instance",
            "The patient's fixed care contact, fixed doctor and treating roles",
            operation=fixed_contacts.NAME,
            definition=fixed_contacts.DEFINITION,
            operation_types=("Patient",),
            fixed_type="Patient",
        )
        for method in ("GET", "POST")  # R4 operations.html: POST always; GET as it changes nothing
    ),
    Route(
        "POST",
        f"/Patient/{{id}}/${emergency_access.NAME}",
        emergency_access.emergency_access,
        "operation",
        "instance",
        "Emergency access (nödåtkomst): a reason, a time limit, always audited",
        operation=emergency_access.NAME,
        definition=emergency_access.DEFINITION,
        operation_types=("Patient",),
        fixed_type="Patient",
    ),
    Route(
        "POST",
        f"/Patient/${merge.NAME}",
        merge.merge,
        "operation",
        "type",
        "Merge two Patients of one person: the source is replaced, its records move to the target",
        takes_body=True,
        operation=merge.NAME,
        definition=merge.DEFINITION,
        operation_types=("Patient",),
        fixed_type="Patient",
    ),
    *(
        Route(
            method,
            path,
            validate.validate,
            "operation",
            level,
            summary,
            takes_body=method == "POST",
            operation=validate.NAME,
            definition=validate.DEFINITION,
            operation_types=STORED_TYPES,
        )
        for method, level, path, summary in _VALIDATE_ROUTES
    ),
    Route(
        "GET",
        f"/Measure/{{id}}/${evaluate_measure.NAME}",
        evaluate_measure.evaluate_measure,
        "operation",
        "instance",
        "A summary MeasureReport of a shipped Measure, from the follow-up report (small cells suppressed)",
        operation=evaluate_measure.NAME,
        definition=evaluate_measure.DEFINITION,
        operation_types=("Measure",),
        fixed_type="Measure",
    ),
    *(
        Route(
            method,
            f"/QuestionnaireResponse/{{id}}/${extract.NAME}",
            extract.extract,
            "operation",
            "instance",
            "A draft contract (transaction Bundle) from the answers to the contract conversation; writes nothing",
            operation=extract.NAME,
            definition=extract.DEFINITION,
            operation_types=("QuestionnaireResponse",),
            fixed_type="QuestionnaireResponse",
        )
        for method in ("GET", "POST")  # R4 operations.html: POST always; GET as it changes nothing
    ),
    *(
        Route(
            method,
            f"/{{type}}/{{id}}/${meta.NAME}",
            meta.meta,
            "operation",
            "instance",
            "The resource's profiles, tags and security labels",
            operation=meta.NAME,
            definition=meta.DEFINITION,
            operation_types=STORED_TYPES,
        )
        for method in ("GET", "POST")  # R4 operations.html: POST always; GET as it changes nothing
    ),
    *(
        Route(
            "POST",
            f"/{{type}}/{{id}}/${name}",
            handler,
            "operation",
            "instance",
            summary,
            takes_body=True,
            operation=name,
            definition=definition,
            operation_types=tuple(t for t in STORED_TYPES if t not in SERVER_WRITTEN),
        )
        for name, handler, definition, summary in (
            (
                meta_change.ADD,
                meta_change.meta_add,
                meta_change.ADD_DEFINITION,
                "Add profiles, tags or security labels (a new version, through the write path)",
            ),
            (
                meta_change.DELETE,
                meta_change.meta_delete,
                meta_change.DELETE_DEFINITION,
                "Remove profiles, tags or security labels (a new version, through the write path)",
            ),
        )
    ),
    *(
        Route(
            method,
            f"/Patient/{{id}}/${everything.NAME}",
            everything.everything,
            "operation",
            "instance",
            "The patient's record: the Patient, its compartment and what they refer to, as the caller may see it",
            takes_body=method == "POST",
            operation=everything.NAME,
            definition=everything.DEFINITION,
            operation_types=("Patient",),
            fixed_type="Patient",
        )
        for method in ("GET", "POST")  # R4 operations.html: POST always; GET as it changes nothing
    ),
    *(
        Route(
            method,
            f"/{{type}}/{{id}}/${revisions.NAME}",
            revisions.revisions,
            "operation",
            "instance",
            "Every version with who changed what",
            operation=revisions.NAME,
            definition=revisions.DEFINITION,
            operation_types=revisions.TYPES,
        )
        for method in ("GET", "POST")
    ),
    *(
        Route(
            method,
            f"/Subscription/{{id}}/${name}",
            handler,
            "operation",
            "instance",
            summary,
            operation=name,
            definition=definition,
            operation_types=("Subscription",),
            fixed_type="Subscription",
        )
        for name, handler, definition, summary in (
            (
                subscription_events.STATUS,
                subscription_events.status,
                subscription_events.STATUS_DEFINITION,
                "A topic-based Subscription's status and its count of events (owner only)",
            ),
            (
                subscription_events.EVENTS,
                subscription_events.events,
                subscription_events.EVENTS_DEFINITION,
                "A topic-based Subscription's events again, by number (owner only)",
            ),
        )
        for method in ("GET", "POST")
    ),
)


def interactions(level: Level | None = None) -> set[str]:
    """The RESTful interaction codes the route table serves (operations are listed apart)."""
    return {
        code
        for route in ROUTES
        if route.operation is None and not route.conformance and (level is None or route.level == level)
        for code in (route.interaction, *route.also)
    }


def operations(resource_type: str) -> list[Route]:
    """The operation routes of one resource type."""
    return [route for route in ROUTES if route.operation is not None and resource_type in route.operation_types]


def system_operations() -> list[Route]:
    """The operation routes at system level (``[base]/$export``)."""
    return [route for route in ROUTES if route.operation is not None and route.level == "system"]


def supports_conditional(interaction: str) -> bool:
    return any(route.conditional and route.interaction == interaction for route in ROUTES)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for ``method`` and a path relative to the FHIR base (``Patient/1/_history``),
    with its path parameters; used for the entries of batch and transaction Bundles."""
    segments = [s for s in path.strip("/").split("/") if s]
    for route in ROUTES:
        if route.method != method:
            continue
        pattern = [s for s in route.path.strip("/").split("/") if s]
        if len(pattern) != len(segments):
            continue
        params: dict[str, str] = {}
        for expected, actual in zip(pattern, segments, strict=True):
            if expected.startswith("{") and expected.endswith("}"):
                if actual.startswith("_") and expected == "{id}":
                    break
                params[expected[1:-1]] = actual
            elif expected != actual:
                break
        else:
            return route, params
    return None

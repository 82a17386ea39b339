"""The FastAPI application: the FHIR routes under ``/fhir``, health checks, error rendering.

Each row of :data:`~fhirbridge.rest.routes.ROUTES` becomes one endpoint that turns the HTTP
request into a :class:`~fhirbridge.rest.messages.FhirRequest`: negotiated format, checked
resource type, size-limited body, the caller's identity.  Errors of every kind leave as
OperationOutcomes; a server fault is logged and never shows internals.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fhirbridge import __version__
from fhirbridge.adapters.adapter import Adapter, Endpoint
from fhirbridge.adapters.registry import adapters
from fhirbridge.auth.scopes import INTERACTION_PERMISSION, Permission
from fhirbridge.auth.tokens import TokenVerifier
from fhirbridge.bootstrap import audit_log_for, repository_for
from fhirbridge.config import Settings, get_settings
from fhirbridge.conformance.registry import CONFORMANCE_TYPES
from fhirbridge.errors import (
    DatabaseUnavailable,
    FhirError,
    Issue,
    invalid,
    method_not_allowed,
    not_found,
    payload_too_large,
)
from fhirbridge.export.worker import running_exporter
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.identity import ANONYMOUS, Identity
from fhirbridge.notifications.delivery import running_worker
from fhirbridge.observability.metrics import Metrics
from fhirbridge.report.freezer import running_freezer
from fhirbridge.report.measures import install_measures
from fhirbridge.rest.audited import audited_call
from fhirbridge.rest.cors import allow_cross_origin
from fhirbridge.rest.docs import mount_docs
from fhirbridge.rest.export_status import mount_export
from fhirbridge.rest.forwarded import ForwardedHeaders, TrustedProxies
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest
from fhirbridge.rest.metrics import RequestMetrics, metrics_answer, observed
from fhirbridge.rest.middleware import SecurityHeaders, TrailingSlash
from fhirbridge.rest.negotiation import (
    check_patch_body_type,
    check_request_body_type,
    response_format,
    xml_body_as_json,
)
from fhirbridge.rest.openapi import openapi_document
from fhirbridge.rest.rate_limit import RateLimit, RateLimits
from fhirbridge.rest.readiness import Readiness, UntilReady, readiness_answer
from fhirbridge.rest.render import error_format, render, render_error
from fhirbridge.rest.request_id import RequestIds, request_id_headers
from fhirbridge.rest.routes import ROUTES, Route
from fhirbridge.rest.smart import announce_authentication, check_authentication_settings, smart_configuration
from fhirbridge.search.parameters import search_parameters
from fhirbridge.storage.waiting import open_checked

log = logging.getLogger("fhirbridge")
FHIR_PREFIX = "/fhir"
WRITE_INTERACTIONS = frozenset({"create", "update", "patch", "delete", "transaction"})
_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 400: "invalid"}


def base_url(request: Request, settings: Settings) -> str:
    if settings.base_url:
        return settings.base_url.rstrip("/")
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing anything over ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise payload_too_large(f"The body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise payload_too_large(f"The body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _endpoint(route: Route) -> Callable[[Request], Awaitable[Response]]:
    public = route.conformance or route.interaction == "capabilities"
    interaction_label = f"${route.operation}" if route.operation else route.interaction
    permission: Permission | None = "r" if route.operation else INTERACTION_PERMISSION.get(route.interaction)

    async def endpoint(request: Request) -> Response:
        context: ServiceContext = request.app.state.context
        path = request.path_params
        resource_type = path.get("type")
        labels = observed(request)
        if labels is not None:
            labels.name(interaction_label, resource_type or route.fixed_type)
        params = request.query_params
        fmt = response_format(request.headers.get("accept"), params.get("_format"), params.get("_pretty"))
        if resource_type in CONFORMANCE_TYPES:
            raise method_not_allowed(f"{resource_type} resources come with the server and are read-only")
        if resource_type is not None and resource_type not in STORED_TYPES:
            raise not_found(f"This server does not serve {resource_type} resources")
        resource_type = resource_type or route.fixed_type
        base = base_url(request, context.settings)
        if public:
            return render(await route.handler(context, _fhir_request(request, route, base, ANONYMOUS, None)), fmt)
        scope = (resource_type, permission) if resource_type is not None and permission is not None else None
        writes = route.interaction in WRITE_INTERACTIONS
        async with audited_call(
            request, base, interaction=route.interaction, operation=route.operation, scope=scope, writes=writes
        ) as call:
            if resource_type == "AuditEvent" and context.audit is not None:
                await context.audit.flush()  # the log is complete up to this question
            reads_body = route.takes_body or route.method == "POST"  # an operation's Parameters
            body = await read_body(request, context.settings.max_body_bytes) if reads_body else None
            if route.interaction == "patch":
                if check_patch_body_type(request.headers.get("content-type")):  # a FHIRPath Patch in XML
                    body = xml_body_as_json(body or b"", context.settings.max_json_depth)
            elif (route.takes_body or (body and route.operation is not None)) and check_request_body_type(
                request.headers.get("content-type"), has_body=bool(body)
            ):  # POST _search reads a form; an XML body is read into the JSON form here
                body = xml_body_as_json(body or b"", context.settings.max_json_depth)
            fhir_request = _fhir_request(request, route, base, call.identity, body)
            response = render(await route.handler(context, fhir_request), fmt)
            call.status = response.status_code
            return response

    what = route.operation or route.interaction.replace("-", "_")
    typed = f"_{route.fixed_type}" if route.fixed_type else ""
    endpoint.__name__ = f"{route.method.lower()}_{what.replace('-', '_')}_{route.level}{typed}"
    return endpoint


def _fhir_request(request: Request, route: Route, base: str, identity: Identity, body: bytes | None) -> FhirRequest:
    path = request.path_params
    return FhirRequest(
        method=route.method,
        base_url=base,
        identity=identity,
        resource_type=path.get("type") or route.fixed_type,
        resource_id=path.get("id"),
        version_id=path.get("vid"),
        query=request.query_params.multi_items(),
        headers={key.lower(): value for key, value in request.headers.items()},
        body=body,
        max_json_depth=request.app.state.context.settings.max_json_depth,
    )


def _adapter_endpoint(adapter: Adapter, endpoint: Endpoint) -> Endpoint:
    """An adapter's endpoint behind authentication, its read scope and the audit log; its
    refusals answered as the adapter answers them."""

    async def guarded(request: Request) -> Response:
        labels = observed(request)
        if labels is not None:
            labels.name(adapter.name, None)
        base = base_url(request, request.app.state.context.settings)
        try:
            async with audited_call(
                request, base, interaction="operation", operation=adapter.name, scope=(adapter.reads, "r")
            ) as call:
                request.state.identity = call.identity
                response = await endpoint(request)
                call.status = response.status_code
                return response
        except FhirError as refusal:
            if adapter.refusal is None:
                raise
            return adapter.refusal(request, refusal)

    return guarded


def _issue_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return render_error(FhirError(status, [Issue("error", code, message)], headers or {}), error_format(request))


_PARAMETER_KINDS = {"query": "query parameter", "path": "path segment", "header": "header", "cookie": "cookie"}


def malformed_request(exc: RequestValidationError) -> FhirError:
    """A 400 naming each parameter FastAPI refused, without echoing pydantic's internals (its
    error types, messages, documentation links or the input it was given)."""
    issues = []
    for problem in exc.errors()[:10]:
        location = [str(part) for part in problem.get("loc", ())]
        kind = _PARAMETER_KINDS.get(location[0], "element") if location else "element"
        name = ".".join(location[1:]) or "the request"
        what = "is required" if problem.get("type") == "missing" else "has a value of the wrong form"
        issues.append(Issue("error", "invalid", f"The {kind} {name} {what}", (name,)))
    return invalid(issues or [Issue("error", "invalid", "The request is malformed")])


def create_app(
    settings: Settings | None = None,
    *,
    freeze_heap: bool = False,
    on_give_up: Callable[[str], None] | None = None,
) -> FastAPI:
    """The application for ``settings`` (default: the environment).  ``freeze_heap``: after
    start, keep what was built so far out of the garbage collector's full passes (a server
    process's choice, see :func:`serve`).  ``on_give_up(why)`` is called when the start fails
    for good (:class:`~fhirbridge.rest.readiness.Readiness`); without it the service stays up,
    not ready."""
    settings = settings or get_settings()
    check_authentication_settings(settings)
    rate_limits = RateLimits(settings)
    metrics = Metrics()

    readiness = Readiness(settings, on_give_up)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.readiness = readiness
        app.state.tokens = TokenVerifier(settings)
        for resource_type in STORED_TYPES:  # built now (0.2-0.5 s), not by the first requests and log batch
            search_parameters(resource_type)
        async with contextlib.AsyncExitStack() as running:

            async def start() -> None:
                """Everything the service needs its database for; tried again while it is away."""
                database = await open_checked(
                    settings, pool_size=settings.db_pool_size, migrate=settings.auto_migrate, current=True
                )
                try:
                    repository = repository_for(database, settings)
                    if settings.auto_migrate:  # brought up to date: the schema, then the follow-up's Measures
                        await install_measures(repository)
                except BaseException:
                    await database.close()
                    raise
                running.push_async_callback(database.close)
                audit = audit_log_for(database, settings)
                exports = await running.enter_async_context(running_exporter(repository, settings))
                app.state.context = ServiceContext(repository, settings, audit, exports=exports)
                await running.enter_async_context(running_worker(database, settings))
                await running.enter_async_context(running_freezer(database, settings))
                await running.enter_async_context(audit.running())
                log.info("fhirbridge %s serving FHIR R4 on %s", __version__, readiness.name)

            await readiness.begin(start)
            if freeze_heap:
                gc.freeze()
            announce_authentication(settings)
            if settings.auth == "off":
                log.warning(rate_limits.describe())  # development mode says what it does
            else:
                log.info(rate_limits.describe())
            try:
                yield
            finally:
                await readiness.stop()

    app = FastAPI(
        title="fhirbridge",
        version=__version__,
        description="FHIR R4 server for Swedish patient contracts. The FHIR API lives under /fhir.",
        lifespan=lifespan,
        docs_url=None,  # served by rest/docs.py, without a CDN
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.metrics = metrics
    # Added innermost first: security headers go on every answer, CORS headers on a 429 too.
    app.add_middleware(TrailingSlash)
    if rate_limits.on:
        app.add_middleware(RateLimit, limits=rate_limits)
    app.add_middleware(UntilReady, readiness=readiness)
    allow_cross_origin(app, settings.cors_origins)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(RequestIds)  # every answer and log line names its request
    # outermost: everything within sees the public scheme, host and client a trusted proxy names
    app.add_middleware(ForwardedHeaders, proxies=TrustedProxies(settings.trusted_proxies))
    for adapter in adapters():
        for method, path, adapter_endpoint in adapter.routes:
            app.add_api_route(
                path, _adapter_endpoint(adapter, adapter_endpoint), methods=[method], include_in_schema=False
            )
        for method, path, document in adapter.documents:
            app.add_api_route(path, document, methods=[method], include_in_schema=False)

    @app.get(FHIR_PREFIX + "/.well-known/smart-configuration", tags=["FHIR"], summary="SMART configuration")
    async def smart_configuration_endpoint() -> JSONResponse:
        return JSONResponse(smart_configuration(settings), headers={"Cache-Control": "public, max-age=3600"})

    # registered before the FHIR routes, whose /{type}/{id} would take it
    mount_export(app, FHIR_PREFIX, lambda request: base_url(request, settings))

    for route in ROUTES:
        app.add_api_route(
            FHIR_PREFIX + route.path,
            _endpoint(route),
            methods=[route.method],
            summary=route.summary,
            response_class=Response,
            include_in_schema=False,  # listed per resource type by rest/openapi.py
        )
    mount_docs(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            own = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = openapi_document(own, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        return await metrics_answer(request, metrics, settings)

    @app.get("/readyz", tags=["operations"], summary="Readiness: started, and the database answers")
    async def readyz(request: Request) -> Response:
        context: ServiceContext | None = getattr(request.app.state, "context", None)
        return await readiness_answer(request, context.repository.ping if context is not None else None)

    @app.exception_handler(FhirError)
    async def fhir_error(request: Request, exc: FhirError) -> Response:
        # A database fault is logged once by the database (storage/faults.py), not per request.
        level = logging.DEBUG if isinstance(exc, DatabaseUnavailable) else logging.INFO
        metrics.refused(exc.status, exc.issues[0].code if exc.issues else "unknown")
        log.log(level, "%s %s -> %s", request.method, request.url.path, exc)
        return render_error(exc, error_format(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "processing")
        message = "No FHIR interaction lives at this address" if exc.status_code == 404 else str(exc.detail)
        if exc.status_code == 405:
            message = f"{request.method} is not supported at {request.url.path}"
        metrics.refused(exc.status_code, code)
        return _issue_response(request, exc.status_code, code, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        metrics.refused(400, "invalid")
        return render_error(malformed_request(exc), error_format(request))

    @app.exception_handler(Exception)
    async def server_fault(request: Request, exc: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        log.exception("server fault %s on %s %s", incident, request.method, request.url.path)
        return _issue_response(
            request,
            500,
            "exception",
            f"The server failed to handle the request (incident {incident}); it is logged",
            request_id_headers(),
        )

    return app


def serve() -> FastAPI:
    """The application as ``fhirbridge serve`` runs it, one per worker process.

    Its heap is frozen once the definitions and search tables are built: a full collection
    would otherwise walk them each time, a pause of about 0.1 s that every request in flight,
    and the access log's bound, would wait out."""
    return create_app(freeze_heap=True, on_give_up=_end_process)


def _end_process(why: str) -> None:
    """End the server process with status 1: its start failed for good (the line saying why is
    logged), and an orchestrator should see a failed process, not a live one never ready.

    At once, without unwinding the server: nothing is open yet (the database never was), and
    a server stopped from inside its own start only adds a traceback to the one line."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(1)

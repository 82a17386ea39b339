"""``/metrics``: the service's Prometheus metrics (:mod:`fhirbridge.observability.metrics`), and
the middleware that counts and times every request for them.

``/metrics`` tells how busy the service is and how often it refuses, which is no one's business
outside the operators: with authentication on (production) it answers

* with ``FHIRBRIDGE_METRICS_TOKEN`` set: a scraper sending ``Authorization: Bearer <that
  token>``, from anywhere (an access token for the FHIR API is no such token);
* without it: callers on the loopback interface only (a Prometheus agent or sidecar on the
  same host).  Behind a reverse proxy in ``FHIRBRIDGE_TRUSTED_PROXIES`` the client's address is
  the one it names in ``X-Forwarded-For`` (rest/forwarded.py); a proxy that does not send it must
  not route ``/metrics``.

Refused: 401 (no or a wrong metrics token) or 403 (not loopback), as OperationOutcomes.  In
development mode (``FHIRBRIDGE_AUTH=off``) it is open, like everything else.
"""

from __future__ import annotations

import hmac
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhirbridge.auth.tokens import unauthenticated
from fhirbridge.config import Settings
from fhirbridge.errors import FhirError, Issue
from fhirbridge.observability.metrics import CONTENT_TYPE, Metrics, Observed

OBSERVED = "fhirbridge.observed"
"""The scope key of the request's :class:`Observed` (the FHIR route names its interaction)."""
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def observed(request: Request) -> Observed | None:
    """Where the route serving ``request`` names what it is, for the request counters."""
    found = request.scope.get(OBSERVED)
    return found if isinstance(found, Observed) else None


class RequestMetrics:
    """Counts and times every HTTP request (:meth:`Metrics.answered`)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        labels = scope[OBSERVED] = Observed()  # the scope copied by a middleware within shares it
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.answered(labels, status, time.perf_counter() - started)


def check_metrics_access(request: Request, settings: Settings) -> None:
    """Refuse a caller ``/metrics`` is not for (see the module)."""
    if settings.auth == "off":
        return
    token = settings.metrics_token
    if token is not None:
        scheme, _, offered = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(offered.strip().encode(), expected):
            raise unauthenticated("the metrics token is missing or wrong" if scheme else None)
        return
    client = request.client.host if request.client is not None else None
    if client not in LOOPBACK:
        raise FhirError(
            403,
            [
                Issue(
                    "error",
                    "forbidden",
                    "Metrics are served on the loopback interface only, or with FHIRBRIDGE_METRICS_TOKEN to a scraper "
                    "that sends it",
                )
            ],
        )


async def metrics_answer(request: Request, metrics: Metrics, settings: Settings) -> Response:
    """``GET /metrics``: the text exposition format (the backlogs and the pool read now)."""
    labels = observed(request)
    if labels is not None:
        labels.name("metrics", None)
    check_metrics_access(request, settings)
    context = getattr(request.app.state, "context", None)
    return Response(await metrics.exposition(context), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

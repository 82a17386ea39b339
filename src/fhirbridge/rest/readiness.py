"""Starting the service without its database, and saying whether it is ready (``/readyz``).

The service answers ``/healthz`` (liveness: the process runs) from the moment it listens.  Its
database may come later: the start tries once, and when the database is not reachable yet
(or, without ``FHIRBRIDGE_AUTO_MIGRATE``, its migrations are pending) it keeps trying in the
background with growing pauses for ``FHIRBRIDGE_DB_WAIT_SECONDS``
(:mod:`fhirbridge.storage.waiting`).  Meanwhile every other request is answered 503
``transient`` with ``Retry-After``, and ``/readyz`` says why the service is not ready.  When
the wait is over, or the start fails for a reason no wait cures (a refused migration), one line
says why and the service gives up (``fhirbridge serve`` then exits with status 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fhirbridge.config import ConfigurationError, Settings
from fhirbridge.errors import RETRY_AFTER_SECONDS, DatabaseUnavailable, FhirError, Issue
from fhirbridge.fhir.jsonio import dumps
from fhirbridge.fhir.outcome import operation_outcome
from fhirbridge.rest.render import render_error
from fhirbridge.storage.migrations import MigrationRefused
from fhirbridge.storage.urls import parse_database_url
from fhirbridge.storage.waiting import DatabaseUnreachable, when_reachable

log = logging.getLogger(__name__)
ALWAYS_ANSWERED = frozenset({"/healthz", "/readyz", "/metrics"})
"""What the service answers before it is ready: liveness, readiness and the metrics."""


class Readiness:
    """Whether the service has its database, and why not."""

    def __init__(self, settings: Settings, on_give_up: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.name = parse_database_url(settings.database_url).describe()
        self.ready = False
        self.reason = "starting"
        self.failed = False
        self._on_give_up = on_give_up
        self._task: asyncio.Task[None] | None = None
        self._since = time.monotonic()

    async def begin(self, start: Callable[[], Awaitable[None]]) -> None:
        """Run ``start`` now; when it finds the database away, again in the background until
        it succeeds or the wait is over.  Returns once the first attempt is done."""
        try:
            await when_reachable(start, seconds=0, name=self.name)
        except DatabaseUnreachable as unreachable:
            self._waiting(unreachable.reason)
            log.warning(
                "database %s is not available yet; waiting up to %g s (FHIRBRIDGE_DB_WAIT_SECONDS) and answering "
                "/healthz meanwhile",
                self.name,
                self.settings.db_wait_seconds,
            )
            self._task = asyncio.create_task(self._keep_trying(start), name="fhirbridge-start")
            return
        except Exception as exc:
            self._give_up(exc)
            return
        self._started()

    async def _keep_trying(self, start: Callable[[], Awaitable[None]]) -> None:
        try:
            await when_reachable(start, seconds=self.settings.db_wait_seconds, name=self.name, waiting=self._waiting)
        except Exception as exc:
            self._give_up(exc)
            return
        self._started()
        log.warning("database %s reached after %.1f s; the service is ready", self.name, self._waited())

    def _waiting(self, reason: str) -> None:
        self.reason = f"the database is {reason}"

    def _waited(self) -> float:
        return time.monotonic() - self._since

    def _started(self) -> None:
        self.ready, self.reason = True, "ready"

    def _give_up(self, exc: Exception) -> None:
        """One line (a traceback only for a bug), and the hook that ends the process."""
        self.failed = True
        if isinstance(exc, DatabaseUnreachable | MigrationRefused | ConfigurationError):
            gave_up = isinstance(exc, DatabaseUnreachable)
            self.reason = "the start failed: " + ("gave up waiting for the database" if gave_up else "see the log")
            log.error("fhirbridge cannot start: %s", exc)
        else:
            self.reason = "the start failed"
            log.error("fhirbridge cannot start", exc_info=exc)
        if self._on_give_up is not None:
            self._on_give_up(str(exc))

    async def stop(self) -> None:
        """Stop waiting (the service is shutting down)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def refusal(self) -> FhirError:
        """The answer to a request while the service is not ready."""
        issue = Issue("error", "transient", f"The service is not ready ({self.reason}); try again")
        return FhirError(503, [issue], {"Retry-After": str(RETRY_AFTER_SECONDS)})


class UntilReady:
    """Answers every request but liveness and readiness with 503 until the service is ready."""

    def __init__(self, app: ASGIApp, readiness: Readiness) -> None:
        self.app = app
        self.readiness = readiness

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.readiness.ready or scope["type"] != "http" or scope["path"].rstrip("/") in ALWAYS_ANSWERED:
            await self.app(scope, receive, send)
            return
        await render_error(self.readiness.refusal())(scope, receive, send)


async def readiness_answer(request: Request, ping: Callable[[], Awaitable[None]] | None) -> Response:
    """``/readyz``: 200 when the service has its database and it answers now; otherwise 503 with
    an OperationOutcome saying why (without the database's address: this answer is public)."""
    readiness: Readiness = request.app.state.readiness
    if not readiness.ready or ping is None:
        return render_error(readiness.refusal())
    try:
        await ping()
    except DatabaseUnavailable as unavailable:
        return render_error(unavailable)
    ok = operation_outcome([Issue("information", "informational", "ready: the database answers")])
    return Response(dumps(ok), media_type="application/fhir+json")

"""Rate limiting: a token bucket per client, answered with 429 (RFC 6585 §4).

Whom a request counts against (:class:`RateLimits`): a request with a bearer token that
verifies counts against the token's client (``client_id``, ``azp`` or ``sub``; a regional
integration engine is one client, whatever address it comes from and whoever shares that
address); every other request (no token, or one that is refused: the 401s) against its
address.  Only a verified token chooses a client's bucket, so nobody can spread requests over
invented client ids or use up another client's bucket by naming it.  In development mode
(``FHIRBRIDGE_AUTH=off``) no token is read and each address counts as one client.

Each bucket holds ``burst`` tokens and refills at ``per_second`` tokens a second; a request
takes one, and a request that finds its bucket empty is answered ``429 Too Many Requests`` with
``Retry-After`` (RFC 9110 §10.2.3) and an OperationOutcome whose issue code is ``throttled``
(R4 valueset-issue-type.html).  Liveness and readiness probes are never limited.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from fhirbridge.config import Settings
from fhirbridge.errors import FhirError, Issue
from fhirbridge.rest.authentication import verified_claims
from fhirbridge.rest.render import error_format, render_error

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})
"""Probes from the platform must keep working when a client floods the service."""

DEFAULT_MAX_CLIENTS = 100_000
"""Buckets kept at most: about 10 MB, whatever the number of distinct clients."""


@dataclass(frozen=True)
class Limit:
    """A token bucket's size and refill rate."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs per_second > 0 and burst >= 1")

    def __str__(self) -> str:
        return f"{self.per_second:g} requests/s in bursts of up to {self.burst}"


@dataclass
class _Bucket:
    tokens: float
    updated: float
    full_after: float
    """Seconds of rest after which the bucket is full again (and can be forgotten)."""


class RateLimiter:
    """Token buckets keyed by an arbitrary string, in bounded memory.

    A bucket left alone long enough to fill up again is the same as a new one, so it is
    forgotten; past ``max_clients`` the least recently seen bucket is forgotten even if it is
    not full yet, which at worst hands that client a fresh burst.
    """

    def __init__(self, *, max_clients: int = DEFAULT_MAX_CLIENTS, clock: Callable[[], float] = time.monotonic) -> None:
        if max_clients < 1:
            raise ValueError("a rate limiter needs max_clients >= 1")
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str, limit: Limit) -> float | None:
        """Take a token from ``key``'s bucket: None when the request may go ahead, else the
        seconds until the next token is there."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._evict(now)
            bucket = self._buckets[key] = _Bucket(float(limit.burst), now, limit.burst / limit.per_second)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.updated) * limit.per_second)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / limit.per_second

    def _evict(self, now: float) -> None:
        """Forget the buckets that are full again, oldest first, and the oldest beyond the cap."""
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < oldest.full_after and len(self._buckets) < self.max_clients:
                return
            self._buckets.popitem(last=False)


def client_address(scope: Scope) -> str:
    """The address a request comes from (behind a proxy, run uvicorn with ``--proxy-headers``
    so that this is the real client)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimits:
    """Which bucket a request counts against, and that bucket's limit (None: not limited)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.on = settings.rate_limit_per_second > 0
        self.client = Limit(settings.rate_limit_per_second, settings.rate_limit_burst) if self.on else None
        anonymous = settings.rate_limit_anonymous_per_second
        self.anonymous = Limit(anonymous, settings.rate_limit_anonymous_burst) if anonymous > 0 else None
        self.named = {
            client: Limit(own.per_second, own.burst or max(1, math.ceil(own.per_second))) if own.per_second else None
            for client, own in settings.rate_limits.items()
        }

    def of_client(self, client: str) -> Limit | None:
        """A client's own limit (``FHIRBRIDGE_RATE_LIMITS``), else the default one."""
        return self.named.get(client, self.client)

    async def bucket(self, scope: Scope) -> tuple[str, Limit | None]:
        """The key of the bucket a request takes its token from, and that bucket's limit."""
        address = client_address(scope)
        if self.settings.auth == "off":
            return f"address {address}", self.client
        connection = HTTPConnection(scope)
        if "authorization" not in connection.headers:
            return f"address {address}", self.anonymous
        try:
            claims = await verified_claims(connection, self.settings)
        except FhirError:  # refused: it counts against its address, whatever client it names
            return f"address {address}", self.anonymous
        client = str(claims.get("client_id") or claims.get("azp") or claims["sub"])
        return f"client {claims['iss']} {client}", self.of_client(client)

    def describe(self) -> str:
        """What the limits do, for the log at start."""
        if not self.on:
            return "rate limiting is off (FHIRBRIDGE_RATE_LIMIT_PER_SECOND=0)"
        if self.settings.auth == "off":
            return f"rate limits in development mode: no token is read, each address is one client: {self.client}"
        named = "".join(f"; {client}: {limit or 'not limited'}" for client, limit in self.named.items())
        return (
            f"rate limits: each client with a valid token {self.client}{named}; "
            f"requests without a valid token {self.anonymous or 'not limited'} per address"
        )


def throttled(wait_seconds: float) -> FhirError:
    """The 429 for a client that must wait ``wait_seconds`` (rounded up to whole seconds)."""
    retry_after = max(1, math.ceil(wait_seconds))
    issue = Issue("error", "throttled", f"Too many requests from this client; try again in {retry_after} s")
    return FhirError(429, [issue], {"Retry-After": str(retry_after)})


class RateLimit:
    """ASGI middleware that takes a token from the bucket :class:`RateLimits` names for every
    HTTP request, and answers 429 when there is none."""

    def __init__(self, app: ASGIApp, limits: RateLimits, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.limits = limits
        self.limiter = limiter or RateLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).rstrip("/") not in UNLIMITED_PATHS:
            key, limit = await self.limits.bucket(scope)
            wait = self.limiter.check(key, limit) if limit is not None else None
            if wait is not None:
                response = render_error(throttled(wait), error_format(Request(scope)))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

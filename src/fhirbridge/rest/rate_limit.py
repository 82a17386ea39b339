"""Rate limiting per client: a token bucket per key, answered with 429 (RFC 6585 §4).

Each client (today its IP address; once authentication is on, its client id) has a bucket of
``burst`` tokens that refills at ``rate`` tokens a second; a request takes one token, and a
request that finds the bucket empty is answered ``429 Too Many Requests`` with ``Retry-After``
(RFC 9110 §10.2.3) and an OperationOutcome whose issue code is ``throttled`` (R4
valueset-issue-type.html).  Liveness and readiness probes are never limited.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from fhirbridge.errors import FhirError, Issue
from fhirbridge.rest.render import error_format, render_error

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})
"""Probes from the platform must keep working when a client floods the service."""

DEFAULT_MAX_CLIENTS = 100_000
"""Buckets kept at most: about 10 MB, whatever the number of distinct clients."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by an arbitrary string, in bounded memory.

    A bucket left alone long enough to fill up again is the same as a new one, so it is
    forgotten; past ``max_clients`` the least recently seen bucket is forgotten even if it is
    not full yet, which at worst hands that client a fresh burst.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("a rate limiter needs rate > 0, burst >= 1 and max_clients >= 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._refill_seconds = burst / rate
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str) -> float | None:
        """Take a token for ``key``: None when the request may go ahead, else the seconds
        until the next token is there."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._evict(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate

    def _evict(self, now: float) -> None:
        """Forget the buckets that are full again, oldest first, and the oldest beyond the cap."""
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < self._refill_seconds and len(self._buckets) < self.max_clients:
                return
            self._buckets.popitem(last=False)


def client_key(scope: Scope) -> str:
    """Whom a request counts against: the client's IP address (behind a proxy, run uvicorn with
    ``--proxy-headers`` so that this is the real client).  Replaceable: pass another key
    function to :class:`RateLimit`, such as the authenticated client's id."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def client_and_address_key(scope: Scope) -> str:
    """The OAuth client a bearer token names (``client_id``, ``azp`` or ``sub``), at its address.

    The token is not verified here (that costs a signature check, and a flood is what this
    guards against); pairing the claimed client with the address means a forged claim can only
    use up buckets of the forger's own address.  Without a token: the address alone."""
    address = client_key(scope)
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return f"{address}|{_claimed_client(value[7:].strip())}"
    return address


def _claimed_client(token: bytes) -> str:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "malformed"
    return str(claims.get("client_id") or claims.get("azp") or claims.get("sub") or "unnamed")[:200]


def throttled(wait_seconds: float) -> FhirError:
    """The 429 for a client that must wait ``wait_seconds`` (rounded up to whole seconds)."""
    retry_after = max(1, math.ceil(wait_seconds))
    issue = Issue("error", "throttled", f"Too many requests from this client; try again in {retry_after} s")
    return FhirError(429, [issue], {"Retry-After": str(retry_after)})


class RateLimit:
    """ASGI middleware that asks ``limiter`` before every HTTP request, keyed by ``key``."""

    def __init__(
        self, app: ASGIApp, limiter: RateLimiter, key: Callable[[Scope], str] = client_and_address_key
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).rstrip("/") not in UNLIMITED_PATHS:
            wait = self.limiter.check(self.key(scope))
            if wait is not None:
                response = render_error(throttled(wait), error_format(Request(scope)))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

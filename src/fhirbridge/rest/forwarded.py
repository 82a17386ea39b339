"""Forwarded headers from trusted proxies: the public scheme, host and client address.

Behind a reverse proxy the service is reached as, say, ``https://fhir.region.se`` while the
request it sees came over plain HTTP from the proxy's address.  Every absolute URL it answers
with is built on the service base (R4 http.html#root): ``Location`` and ``Content-Location``
(http.html#create, http.html#update), Bundle ``link`` and ``entry.fullUrl`` (bundle.html,
http.html#history, search.html#conformance).  So when ``FHIRBRIDGE_BASE_URL`` is not set, the base
is taken from the request as the client made it: from ``X-Forwarded-Proto`` and
``X-Forwarded-Host``, and the caller's address from ``X-Forwarded-For`` (the rate limit of
anonymous callers, ``/metrics`` on loopback and the AuditEvent's source address use it).

Only the proxies in ``FHIRBRIDGE_TRUSTED_PROXIES`` (addresses or networks; by default loopback,
a proxy on the same host) are believed: from any other peer these headers are ignored, so a
client cannot make the service answer with another host's URLs or hide its address.  Each proxy
is expected to set the headers (not pass on the client's): of several values the last one, the
one the nearest proxy wrote, is taken; of ``X-Forwarded-For`` the last address that is not a
trusted proxy.  A value that is not a scheme or a host is ignored.

Starting with ``fhirbridge serve`` this replaces uvicorn's own ``--proxy-headers`` (which knows
neither ``X-Forwarded-Host`` nor networks), so the two never disagree.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

_SCHEMES = {"http": "http", "https": "https"}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_network(entry: str) -> Network:
    """One entry of ``FHIRBRIDGE_TRUSTED_PROXIES``: an address (``10.0.0.5``, ``::1``) or a
    network (``10.0.0.0/24``); a ValueError names an entry that is neither."""
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{entry!r} is not an IP address or network (10.0.0.5, 10.0.0.0/24, ::1)") from None


class TrustedProxies:
    """The peers whose forwarded headers are believed."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = [trusted_network(entry) for entry in entries]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, host: str | None) -> bool:
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host.strip().strip("[]"))
        except ValueError:
            return False  # a name or a unix socket: not a peer one can trust by address
        return any(address in network for network in self.networks)

    def client(self, forwarded_for: str) -> str | None:
        """The caller named by ``X-Forwarded-For``: walking back from the nearest proxy, the
        first address that is not a trusted proxy (or the first of all when every one is);
        None when a hop on the way is not an IP address."""
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not _is_address(hop):
                return None  # not what a proxy writes: the peer stays the caller
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _last(values: list[bytes]) -> str | None:
    if not values:
        return None
    joined = b",".join(values).decode("latin-1")
    parts = [part.strip() for part in joined.split(",") if part.strip()]
    return parts[-1] if parts else None


class ForwardedHeaders:
    """Sets the request's scheme, ``Host`` and client from the forwarded headers of a trusted
    proxy (module docstring); from any other peer the request is left as it came."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.proxies:
            peer = scope.get("client")
            if peer is not None and self.proxies.trusts(peer[0]):
                self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        proto: list[bytes] = []
        host: list[bytes] = []
        forwarded_for: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                proto.append(value)
            elif name == b"x-forwarded-host":
                host.append(value)
            elif name == b"x-forwarded-for":
                forwarded_for.append(value)
        scheme = _SCHEMES.get((_last(proto) or "").lower())
        if scheme is not None:
            scope["scheme"] = scheme
        public_host = _last(host)
        if public_host is not None and _HOST.fullmatch(public_host):
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"host"] + [
                (b"host", public_host.encode("latin-1"))
            ]
        if forwarded_for:
            client = self.proxies.client(b",".join(forwarded_for).decode("latin-1"))
            if client is not None:
                scope["client"] = (client, 0)

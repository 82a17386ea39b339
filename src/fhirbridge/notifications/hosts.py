"""Host names as the endpoint rule compares them (:mod:`fhirbridge.notifications.endpoints`),
and the entries of the deployment's allow-list (``FHIRBRIDGE_SUBSCRIPTION_ALLOWED_HOSTS``),
read by the settings at start."""

from __future__ import annotations

from ipaddress import ip_address

import httpx


def host_key(host: str) -> str:
    """A URL's host as the rule compares it: lower case, no trailing dot, IP addresses in one spelling."""
    host = host.lower().rstrip(".")
    try:
        return str(ip_address(host))
    except ValueError:
        return host


def allowed_host(entry: str) -> tuple[str, int | None]:
    """An allow-list entry: ``host``, ``host:port``, an IPv6 address, or ``[IPv6]:port``."""
    text = entry.strip()
    try:
        return str(ip_address(text)), None
    except ValueError:
        pass
    try:
        url = httpx.URL(f"allowed://{text}")  # a scheme without a default port, so :443 stays
    except httpx.InvalidURL:
        url = None
    if url is None or not url.host or url.userinfo or url.raw_path != b"/" or url.fragment:
        raise ValueError(f"an allowed host is host or host:port, not {entry!r}")
    return host_key(url.raw_host.decode("ascii")), url.port

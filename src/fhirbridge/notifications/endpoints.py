"""The endpoint rule: which URLs a Subscription may make this server call (docs/security.md).

A rest-hook endpoint makes the server send requests from inside the care network, so an
endpoint could otherwise reach what only the server can reach: the cloud's metadata service
(169.254.169.254), the database, an admin port on localhost (server-side request forgery).
The rule:

- outside development mode (``FHIRBRIDGE_AUTH=off``) an endpoint is ``https:``;
- it has no user name or password (credentials go in ``channel.header``);
- its host is not a loopback, private (RFC 1918), shared (RFC 6598), link-local, unique-local,
  site-local, unspecified, multicast or otherwise reserved address, nor such an IPv4 address
  inside an IPv6 one (``::ffff:127.0.0.1``, 6to4, NAT64), nor ``localhost``;
- unless the deployment allow-lists the host (``FHIRBRIDGE_SUBSCRIPTION_ALLOWED_HOSTS``), which
  lifts the address rule for it, but not the scheme rule.

:func:`endpoint_refusal` judges the URL when a Subscription is written and again before each
delivery.  A name is judged by what it resolves to when a delivery connects
(:mod:`.egress`): only then is it known where the server is about to connect.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING

import httpx

from fhirbridge.notifications.hosts import allowed_host, host_key

if TYPE_CHECKING:
    from fhirbridge.config import Settings

IPAddress = IPv4Address | IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = IPv6Network("64:ff9b::/96")
# Named first, so that a refusal says what kind of address it met; the ipaddress module's flags
# catch the rest (documentation, benchmarking and protocol ranges, 240/4, broadcast …).
_KINDS = tuple(
    (ip_network(network), kind)
    for network, kind in (
        ("0.0.0.0/8", "an unspecified address"),  # "this network": Linux connects 0.x to itself
        ("10.0.0.0/8", "a private address (RFC 1918)"),
        ("100.64.0.0/10", "a shared address (carrier-grade NAT, RFC 6598)"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address (RFC 1918)"),
        ("192.168.0.0/16", "a private address (RFC 1918)"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("fc00::/7", "a unique-local address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),  # deprecated, and global to Python 3.11
    )
)
# What inet_aton (and so getaddrinfo) reads as IPv4: 2130706433, 0x7f.1, 0177.0.0.1, 127.1.
_LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)


@dataclass(frozen=True)
class EndpointPolicy:
    """What one deployment lets Subscriptions call.

    ``allowed_hosts`` holds (host, port) pairs as :func:`allowed_host` reads them; a port of
    None allows every port of the host."""

    https_only: bool = True
    allowed_hosts: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> EndpointPolicy:
        """https only unless in development mode; the allow-list from the settings."""
        return cls(
            https_only=settings.auth != "off",
            allowed_hosts=frozenset(allowed_host(entry) for entry in settings.subscription_allowed_hosts),
        )

    def allows(self, host: str, port: int) -> bool:
        """Whether the allow-list exempts ``host`` (a :func:`host_key`) at ``port`` from the address rule."""
        return (host, None) in self.allowed_hosts or (host, port) in self.allowed_hosts


def endpoint_refusal(endpoint: str, policy: EndpointPolicy) -> str | None:
    """Why this server will not send to ``endpoint``, or None when it may (a name is judged
    again by its addresses when a delivery connects)."""
    try:
        url = httpx.URL(endpoint)
    except (httpx.InvalidURL, ValueError):
        url = None
    if url is None or url.scheme not in DEFAULT_PORTS or not url.host:
        return "A rest-hook endpoint is an http: or https: URL"
    if url.scheme != "https" and policy.https_only:
        return "A rest-hook endpoint is an https: URL (http: only in development mode)"
    if url.userinfo:
        return "A rest-hook endpoint has no user name or password; send credentials in channel.header"
    host = host_key(url.raw_host.decode("ascii"))
    if policy.allows(host, url.port or DEFAULT_PORTS[url.scheme]):
        return None
    address = literal_address(host)
    if address is not None:
        kind = address_refusal(address)
    elif host == "localhost" or host.endswith(".localhost"):  # always loopback (RFC 6761)
        kind = "a loopback name"
    else:
        return None
    if kind is None:
        return None
    return f"The endpoint's host {host} is {kind}; this server calls only public addresses and allow-listed hosts"


def literal_address(host: str) -> IPAddress | None:
    """The address a host spells out, also in the IPv4 forms the resolver accepts (``127.1``)."""
    try:
        return ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host):
        try:
            return IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def address_refusal(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is, or None for a public one."""
    if isinstance(address, IPv6Address):
        # IPv4 inside IPv6 goes where the IPv4 address goes: a dual-stack socket connects to a
        # mapped one itself, 6to4 and NAT64 gateways forward to it.  It alone decides.
        inner = (
            address.ipv4_mapped
            or address.sixtofour
            or (IPv4Address(int(address) & 0xFFFF_FFFF) if address in _NAT64 else None)
        )
        if inner is not None:
            kind = address_refusal(inner)
            return None if kind is None else f"an IPv6 form of {inner}, {kind}"
    for network, kind in _KINDS:
        if address in network:
            return kind
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or address.is_reserved or not address.is_global:
        return "a reserved or special-purpose address"
    return None

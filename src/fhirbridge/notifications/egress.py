"""The HTTP client that notifications go out through: it connects only where the endpoint rule allows.

When a delivery opens a connection, the host is resolved (``getaddrinfo`` in a worker thread,
off the event loop), every address it resolves to is judged by
:func:`.endpoints.address_refusal`, and the connection is opened to those checked addresses,
never by resolving the name again: an answer that changes between the check and the connect
(DNS rebinding) cannot steer a delivery to an internal address.  The URL, the ``Host`` header
and TLS (SNI, and the certificate checked against the name) keep the name, because httpcore
layers them over the connection this backend opens.  An allow-listed host is resolved the same
way, without the judgement.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from ipaddress import ip_address

import httpcore
import httpx

from fhirbridge.notifications.endpoints import EndpointPolicy, IPAddress, address_refusal
from fhirbridge.notifications.hosts import host_key


class EndpointRefused(Exception):
    """The endpoint rule forbids this delivery; nothing was sent."""


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to for TCP, in the resolver's order (tests replace this)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(info[4][0]) for info in infos))


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to resolved addresses the rule allows."""

    def __init__(self, policy: EndpointPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} cannot be resolved: {exc}") from exc
        if not self.policy.allows(host_key(host), port):
            for address in addresses:
                kind = address_refusal(address)
                if kind is not None:
                    raise EndpointRefused(f"{host} resolves to {address}, {kind}")
        failure: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the next address, as a resolving connect would
                failure = exc
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """httpx's TLS defaults (the system's CAs, certificates and names checked), trusting also the
    CA certificates of ``ca_file`` (``FHIRBRIDGE_NOTIFY_CA_FILE``: a region's own CA)."""
    context = httpx.create_ssl_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: httpcore.AsyncNetworkBackend, context: ssl.SSLContext) -> None:
        super().__init__()
        # httpx has no public way to give httpcore a network backend: the pool it built is
        # replaced by one like it (httpx's TLS defaults and connection limits) that uses ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


def checked_client(policy: EndpointPolicy, timeout: float, ca_file: str | None = None) -> httpx.AsyncClient:
    """An httpx client for deliveries under ``policy``, trusting the system's CAs and those of
    ``ca_file``.  It follows no redirects (a redirect could point anywhere) and uses no proxy
    from the environment (the rule must see the address it connects to)."""
    transport = _CheckedTransport(CheckedBackend(policy), ssl_context(ca_file))
    return httpx.AsyncClient(transport=transport, timeout=timeout)

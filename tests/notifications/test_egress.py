"""Connecting under the endpoint rule: names are resolved once, every address is judged, and the
connection goes to the checked address.  The resolver is replaced; the network backend below
the check records where it was asked to connect, or connects to a receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from ipaddress import ip_address
from pathlib import Path

import httpcore
import pytest
from bench.tls import self_signed

from fhirbridge.notifications import egress
from fhirbridge.notifications.egress import CheckedBackend, EndpointRefused
from fhirbridge.notifications.endpoints import EndpointPolicy, IPAddress, allowed_host


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Connects nowhere: records each (address, port) asked for; ``failing`` ones refuse."""

    def __init__(self, failing: Iterable[str] = ()) -> None:
        self.asked: list[tuple[str, int]] = []
        self.failing = set(failing)

    async def connect_tcp(self, host: str, port: int, *args: object, **kwargs: object) -> httpcore.AsyncNetworkStream:
        self.asked.append((host, port))
        if host in self.failing:
            raise httpcore.ConnectError(f"{host} refused")
        return httpcore.AsyncMockStream([])


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """What the resolver answers, one list per lookup, in turn; the test fills it in."""
    queue: list[list[str]] = []

    async def resolve(host: str, port: int) -> list[IPAddress]:
        if not queue:
            raise OSError(f"no answer for {host}")
        return [ip_address(a) for a in queue.pop(0)]

    monkeypatch.setattr(egress, "resolve", resolve)
    return queue


async def test_a_name_is_refused_when_any_of_its_addresses_is_internal(answers: list[list[str]]) -> None:
    answers.append(["93.184.215.14", "169.254.169.254"])
    inner = RecordingBackend()
    with pytest.raises(EndpointRefused, match=r"hooks\.region\.example resolves to 169\.254\.169\.254, a link-local"):
        await CheckedBackend(EndpointPolicy(), inner).connect_tcp("hooks.region.example", 443)
    assert inner.asked == []


async def test_the_connection_goes_to_the_checked_address_not_to_a_second_answer(answers: list[list[str]]) -> None:
    answers.extend([["93.184.215.14"], ["127.0.0.1"]])  # a rebinding resolver answers loopback next time
    inner = RecordingBackend()
    await CheckedBackend(EndpointPolicy(), inner).connect_tcp("hooks.region.example", 443)
    assert inner.asked == [("93.184.215.14", 443)]
    assert answers == [["127.0.0.1"]]  # asked once


async def test_the_next_checked_address_is_tried_when_one_does_not_answer(answers: list[list[str]]) -> None:
    answers.append(["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "93.184.215.14"])
    inner = RecordingBackend(failing=["2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
    await CheckedBackend(EndpointPolicy(), inner).connect_tcp("hooks.region.example", 443)
    assert inner.asked == [("2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443), ("93.184.215.14", 443)]


async def test_an_allow_listed_name_is_resolved_once_and_not_judged(answers: list[list[str]]) -> None:
    answers.append(["10.20.30.40"])
    inner = RecordingBackend()
    policy = EndpointPolicy(allowed_hosts=frozenset({allowed_host("engine.region.internal:8443")}))
    await CheckedBackend(policy, inner).connect_tcp("Engine.Region.Internal", 8443)
    assert inner.asked == [("10.20.30.40", 8443)]
    answers.append(["10.20.30.40"])
    with pytest.raises(EndpointRefused):  # another port is not allow-listed
        await CheckedBackend(policy, inner).connect_tcp("engine.region.internal", 443)


async def test_a_name_that_does_not_resolve_is_a_connect_error(answers: list[list[str]]) -> None:
    with pytest.raises(httpcore.ConnectError, match="cannot be resolved"):
        await CheckedBackend(EndpointPolicy(), RecordingBackend()).connect_tcp("finns-inte.region.example", 443)


async def test_the_real_resolver_answers_addresses() -> None:
    assert await egress.resolve("127.0.0.1", 80) == [ip_address("127.0.0.1")]


async def test_tls_keeps_the_name_while_connecting_to_the_checked_address(
    answers: list[list[str]], tmp_path: Path
) -> None:
    cert_file, key_file = self_signed(tmp_path, "hooks.region.test")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []
    server_context.sni_callback = lambda connection, name, context: names.append(name)
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    answers.append(["127.0.0.1"])
    policy = EndpointPolicy(allowed_hosts=frozenset({allowed_host(f"hooks.region.test:{port}")}))
    # The client trusts the certificate for hooks.region.test only: connecting by address would fail.
    client_context = ssl.create_default_context(cafile=cert_file)
    async with (
        server,
        httpcore.AsyncConnectionPool(ssl_context=client_context, network_backend=CheckedBackend(policy)) as pool,
    ):
        response = await pool.request("POST", f"https://hooks.region.test:{port}/hook")
    assert response.status == 204
    assert names == ["hooks.region.test"]
    assert heads[0].startswith(b"POST /hook HTTP/1.1\r\n")
    assert f"Host: hooks.region.test:{port}\r\n".encode() in heads[0]

"""A rest-hook receiver on 127.0.0.1 for the delivery tests: it keeps what it was sent, headers
and exact body bytes, and answers with the status the test sets (204 unless told)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fhirbridge.config import Settings
from fhirbridge.fhir.instants import now_us


@dataclass(frozen=True)
class Received:
    line: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingReceiver:
    status: int = 204
    received: list[Received] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/hook"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if self.status < 300:  # a failing receiver is heard, but has not received anything
            self.received.append(Received(head[0], headers, body))
        writer.write(f"HTTP/1.1 {self.status} Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


@asynccontextmanager
async def listening(tls: ssl.SSLContext | None = None) -> AsyncIterator[RecordingReceiver]:
    """A receiver listening on a free port of 127.0.0.1 for as long as the block runs (https
    with ``tls``, the server side of a certificate: tests/notifications/tls.py)."""
    receiver = RecordingReceiver(scheme="https" if tls is not None else "http")
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0, ssl=tls)
    receiver.port = server.sockets[0].getsockname()[1]
    async with server:
        yield receiver


class Clock:
    """A clock the test moves forward by hand (the delivery worker's ``clock``)."""

    def __init__(self) -> None:
        self.now = now_us()

    def __call__(self) -> int:
        return self.now


def allowed_to_deliver(settings: Settings, receiver: RecordingReceiver) -> Settings:
    """``settings`` that let a Subscription name the receiver on loopback (issue 7's endpoint rule)."""
    return settings.model_copy(update={"subscription_allowed_hosts": [f"127.0.0.1:{receiver.port}"]})

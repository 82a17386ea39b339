"""A closed-loop HTTP/1.1 load generator on plain asyncio streams.

Each of ``concurrency`` keep-alive connections sends one request, reads the whole response
(status line, headers, ``Content-Length`` body) and sends the next: the server always has
``concurrency`` requests in flight.  Requests are hand-written bytes and responses are parsed
just far enough to know the status and where the body ends, so a request costs the generator
a few tens of microseconds of CPU: far less than a framework client such as httpx, which
tops out near 1,000 requests/s on these machines.

A request names its *caller* (``reader``, ``PractitionerRole/role-…``); the run's credentials
map each caller to its ``Authorization`` header line, minted once per run, so the same
scenario can be driven with tokens (production mode) and without (development mode).  A
request may also carry further header lines (``If-Match``) and a hook that is told how it
was answered (a scenario that tracks versions reads the ``ETag`` there).

What it measures: requests completed per second of the measurement window, the latency of
each (send to last body byte), the status codes, and the CPU cores used over the window by
each party a *meter* (a function returning CPU seconds) watches: the generator itself, the
server, the database; so a report can show whether the generator was the bottleneck.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

Answered = Callable[[int, bytes], object]
"""Told the status and the lower-cased header block of a response (status 0: none came); what
it returns is ignored."""


class Request(NamedTuple):
    """One request: ``caller`` is a key of the run's credentials (no header when it has none);
    ``headers`` are further header lines, each ending in CRLF."""

    method: str
    path: str
    body: bytes | None = None
    caller: str = ""
    headers: str = ""
    answered: Answered | None = None


RequestFactory = Callable[[int], Request]
"""Gets a running number and returns the request to send."""
Meter = Callable[[], float]

_HEADER_END = b"\r\n\r\n"
_RESPONSE_TIMEOUT_S = 30.0


@dataclass
class RunResult:
    """One measured run: completions inside the window, their latencies, statuses, errors."""

    duration_s: float
    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    cores: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies_ns)

    @property
    def errors(self) -> int:
        """Every response that is not 2xx, and every request that got no response."""
        bad_status = sum(count for status, count in self.statuses.items() if not 200 <= status < 300)
        return bad_status + sum(self.failures.values())

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def max_ms(self) -> float:
        """The slowest request inside the window: a stall that the p99 does not show."""
        return max(self.latencies_ns) / 1e6 if self.latencies_ns else float("nan")

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
        return ordered[rank - 1] / 1e6


def encode_request(host: str, request: Request, credentials: Mapping[str, str]) -> bytes:
    """The bytes of one HTTP/1.1 request (keep-alive is HTTP/1.1's default); ``credentials``
    maps a caller to its header line (``Authorization: Bearer …\\r\\n``)."""
    head = (
        f"{request.method} {request.path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/fhir+json\r\n"
        f"{credentials.get(request.caller, '')}{request.headers}"
    )
    if request.body is None:
        return (head + "\r\n").encode()
    head += f"Content-Type: application/fhir+json\r\nContent-Length: {len(request.body)}\r\n\r\n"
    return head.encode() + request.body


def header_value(head: bytes, name: bytes) -> bytes | None:
    """One header's value from a lower-cased header block (``name`` lower-case, without colon)."""
    at = head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    return head[start : head.index(b"\r\n", start)].strip()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """Status, lower-cased header block and body of one response; only ``Content-Length``
    framing is supported."""
    head = (await reader.readuntil(_HEADER_END)).lower()
    status = int(head[9:12])
    length = header_value(head, b"content-length")
    if length is None:
        if b"\r\ntransfer-encoding:" in head:
            raise ValueError("chunked responses are not supported by this generator")
        return status, head, b""
    body = await reader.readexactly(int(length)) if int(length) else b""
    return status, head, body


class LoadGenerator:
    """Drives one server at a fixed concurrency for a fixed time, as the callers whose header
    lines ``credentials`` holds."""

    def __init__(self, host: str, port: int, concurrency: int, credentials: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self.concurrency = concurrency
        self.credentials = credentials or {}
        self._host_header = f"{host}:{port}"

    async def run(
        self,
        factory: RequestFactory,
        *,
        duration_s: float,
        warmup_s: float = 0.0,
        meters: dict[str, Meter] | None = None,
    ) -> RunResult:
        """Warm up for ``warmup_s``, then count what completes within the next ``duration_s``.

        Each meter is read when the window opens and when the last connection is done; the
        difference over the wall time between the readings is the cores it used.  Every
        request sent is answered (or fails) before this returns, so a scenario's hooks have
        seen all its requests."""
        meters = {"generator": time.process_time, **(meters or {})}
        counter = itertools.count()
        start_ns = time.perf_counter_ns()
        window_start = start_ns + int(warmup_s * 1e9)
        window_end = window_start + int(duration_s * 1e9)
        result = RunResult(duration_s)
        opened: dict[str, float] = {}

        async def open_window() -> None:
            await asyncio.sleep(warmup_s)
            opened.update({name: meter() for name, meter in meters.items()})
            opened["wall"] = time.perf_counter()

        window = asyncio.create_task(open_window())
        await asyncio.gather(
            *(self._connection(factory, counter, window_start, window_end, result) for _ in range(self.concurrency))
        )
        await window
        wall = time.perf_counter() - opened["wall"]
        result.cores = {name: (meter() - opened[name]) / wall for name, meter in meters.items()}
        return result

    async def _connection(
        self,
        factory: RequestFactory,
        counter: itertools.count[int],
        window_start: int,
        window_end: int,
        result: RunResult,
    ) -> None:
        """One keep-alive connection, reopened after a failure until the window closes."""
        while time.perf_counter_ns() < window_end:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                result.failures[f"connect: {type(exc).__name__}"] += 1
                await asyncio.sleep(0.1)
                continue
            try:
                await self._requests(reader, writer, factory, counter, window_start, window_end, result)
            finally:
                writer.close()

    async def _requests(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        factory: RequestFactory,
        counter: itertools.count[int],
        window_start: int,
        window_end: int,
        result: RunResult,
    ) -> None:
        while True:
            sent_ns = time.perf_counter_ns()
            if sent_ns >= window_end:
                return
            request = factory(next(counter))
            writer.write(encode_request(self._host_header, request, self.credentials))
            try:
                async with asyncio.timeout(_RESPONSE_TIMEOUT_S):
                    status, head, response_body = await _read_response(reader)
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
                if request.answered is not None:
                    request.answered(0, b"")
                result.failures[type(exc).__name__] += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{request.method} {request.path} -> {type(exc).__name__}: {exc}")
                return
            done_ns = time.perf_counter_ns()
            if request.answered is not None:
                request.answered(status, head)
            if not window_start <= done_ns <= window_end:  # count what completes inside the window
                continue
            result.latencies_ns.append(done_ns - sent_ns)
            result.statuses[status] += 1
            if not 200 <= status < 300 and len(result.error_samples) < 5:
                result.error_samples.append(f"{request.method} {request.path} -> {status}: {response_body[:300]!r}")

"""What the request id and the metrics add to each request, in-process: the two middlewares
around an application that answers at once, against that application alone, and one
``Metrics.answered`` call.  ``python -m bench.observability`` (docs/benchmarks.md, issue 17)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhirbridge.observability.metrics import Metrics, Observed
from fhirbridge.rest.metrics import OBSERVED, RequestMetrics
from fhirbridge.rest.request_id import RequestIds

ROUNDS = 100_000
HEADERS = [(b"content-type", b"application/fhir+json")]


async def answering(scope: Scope, receive: Receive, send: Send) -> None:
    labels = scope.get(OBSERVED)
    if isinstance(labels, Observed):
        labels.name("read", "CarePlan")
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"{}"})


async def _sent(message: Message) -> None:
    return None


async def _received() -> Message:
    return {"type": "http.request"}


async def per_request_us(app: ASGIApp, headers: Sequence[tuple[bytes, bytes]]) -> float:
    started = time.perf_counter()
    for _ in range(ROUNDS):
        await app({"type": "http", "path": "/fhir/CarePlan/1", "headers": list(headers)}, _received, _sent)
    return (time.perf_counter() - started) / ROUNDS * 1e6


async def main() -> None:
    labels = Observed()
    labels.name("read", "CarePlan")
    metrics = Metrics()
    started = time.perf_counter()
    for _ in range(ROUNDS):
        metrics.answered(labels, 200, 0.001)
    print(f"Metrics.answered: {(time.perf_counter() - started) / ROUNDS * 1e6:.2f} us")
    bare = await per_request_us(answering, [])
    given = [(b"x-request-id", b"proxy-7f3a.42")]
    print(f"the application alone: {bare:.2f} us a request; added:")
    print(f"  RequestMetrics: {await per_request_us(RequestMetrics(answering, Metrics()), []) - bare:.2f} us")
    print(f"  RequestIds, id made: {await per_request_us(RequestIds(answering), []) - bare:.2f} us")
    print(f"  RequestIds, id taken: {await per_request_us(RequestIds(answering), given) - bare:.2f} us")
    both = RequestIds(RequestMetrics(answering, Metrics()))
    print(f"  both, id made: {await per_request_us(both, []) - bare:.2f} us")


if __name__ == "__main__":
    asyncio.run(main())

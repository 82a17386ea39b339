"""A do-nothing HTTP/1.1 server, to measure the load generator's own ceiling.

It answers every request with the same small 200 response and does no other work, so a run
against it shows how many requests per second the generator can drive on this machine
(the two share the cores, as the generator and fhirbridge do).  Requests must be bodiless.

    python -m bench.nullserver --port 8099
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import uvloop

RESPONSE = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"status":"ok"}'


class _NullProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        complete = self._buffer.count(b"\r\n\r\n")
        if complete and self._transport is not None:
            self._buffer = self._buffer[self._buffer.rfind(b"\r\n\r\n") + 4 :]
            self._transport.write(RESPONSE * complete)


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_NullProtocol, host, port)
    print(f"null server on http://{host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()

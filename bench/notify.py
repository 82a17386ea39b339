"""Notification latency from commit to delivery (issue 15: p50 under 1 s with the in-process worker).

    .venv/bin/python -m bench.notify [--backends sqlite,postgresql] [--mode production|development]
        [--notifications 300] [--pause 0.1] [--contracts 200]

For each backend: a fresh database seeded with ``--contracts`` contracts (:mod:`bench.seed`), a
receiver on 127.0.0.1 that notes when each notification arrives, and the service with its
in-process delivery worker at the default poll (:mod:`bench.server`, :mod:`bench.modes`).  In
production mode the receiver speaks https with a certificate made for the run, which the service
is told to trust (``SSL_CERT_FILE``), and its address is allow-listed
(``FHIRBRIDGE_SUBSCRIPTION_ALLOWED_HOSTS``), as the endpoint rule asks; in development mode it
speaks http.  The region's integration subscribes (R4 rest-hook, ``CarePlan?status=active``,
full-resource payload) and then updates contracts one at a time, ``--notifications`` times, a
random pause of up to ``2 × --pause`` apart (so that the updates fall anywhere in the worker's
poll).  An update's commit time is when its response arrived (just after the commit, so the
figures are short by the answer's trip, well under a millisecond here); its latency is when the
notification of that version arrived at the receiver, after it.  Prints p50, p99 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import ssl
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/notify.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import uvloop

from bench.modes import INTEGRATION, Issuer, mode
from bench.seed import Backend, SeededData, fresh_backend, seed
from bench.server import ServiceProcess
from bench.tls import self_signed

HOST = "127.0.0.1"


class Receiver:
    """A minimal HTTP/1.1 server that answers 200 and notes when each version's notification
    arrived (``(id, versionId)`` → ``time.perf_counter()``)."""

    def __init__(self) -> None:
        self.arrived: dict[tuple[str, str], float] = {}
        self.count = 0
        self.arrival = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                at = time.perf_counter()
                self.count += 1
                if body:
                    resource = json.loads(body)
                    key = (str(resource.get("id")), str((resource.get("meta") or {}).get("versionId")))
                    self.arrived.setdefault(key, at)
                    self.arrival.set()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the service hung up, or the run ended with its connection open
        finally:
            writer.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run_backend(backend: Backend, data: SeededData, args: argparse.Namespace, issuer: Issuer) -> None:
    running = mode(args.mode, issuer)
    production = running.issuer is not None
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="fhirbridge-bench-notify-") as folder:
        tls: ssl.SSLContext | None = None
        environment = dict(running.environment)
        if production:
            cert_path, key_path = self_signed(Path(folder), HOST)
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(cert_path, key_path)
            environment["SSL_CERT_FILE"] = str(cert_path)
        server = await asyncio.start_server(receiver.serve, HOST, 0, ssl=tls)
        port = server.sockets[0].getsockname()[1]
        environment["FHIRBRIDGE_SUBSCRIPTION_ALLOWED_HOSTS"] = f"{HOST}:{port}"
        environment["FHIRBRIDGE_OUTBOX_WORKER"] = "inprocess"
        endpoint = f"{'https' if production else 'http'}://{HOST}:{port}/notify"
        with ServiceProcess(backend.url, Path(folder) / "service.log", environment) as service:
            token = running.issuer.token(INTEGRATION) if running.issuer is not None else None
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with httpx.AsyncClient(base_url=f"http://{HOST}:{service.port}/fhir", headers=headers) as http:
                subscription = {
                    "resourceType": "Subscription",
                    "status": "requested",
                    "reason": "bench: notification latency",
                    "criteria": "CarePlan?status=active",
                    "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"},
                }
                created = await http.post("/Subscription", json=subscription, timeout=60)
                assert created.status_code == 201, created.text
                committed: dict[tuple[str, str], float] = {}
                contracts = data.contracts
                for n in range(args.notifications):
                    plan = dict(contracts[n % len(contracts)])
                    plan["note"] = [{"text": f"bench notification {n}"}]
                    answer = await http.put(f"/CarePlan/{plan['id']}", json=plan, timeout=60)
                    at = time.perf_counter()
                    assert answer.status_code in (200, 201), answer.text
                    version = answer.headers["etag"].removeprefix('W/"').removesuffix('"')
                    committed[(plan["id"], version)] = at
                    await asyncio.sleep(random.uniform(0, 2 * args.pause))

                async def all_arrived() -> None:
                    while not committed.keys() <= receiver.arrived.keys():
                        receiver.arrival.clear()
                        await receiver.arrival.wait()

                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_arrived(), 30)
        server.close()
        await server.wait_closed()
    latencies = [receiver.arrived[key] - at for key, at in committed.items() if key in receiver.arrived]
    missing = len(committed) - len(latencies)
    if not latencies:
        print(f"{backend.name}, {args.mode}: no notification arrived ({receiver.count} requests)", flush=True)
        return
    ms = [1000 * value for value in latencies]
    print(
        f"{backend.name}, {args.mode}: {len(latencies)} notifications, commit to delivery "
        f"p50 {percentile(ms, 0.5):,.0f} ms, p99 {percentile(ms, 0.99):,.0f} ms, max {max(ms):,.0f} ms "
        f"(not arrived within 30 s: {missing})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--contracts", type=int, default=200)
    parser.add_argument("--notifications", type=int, default=300)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--mode", default="production", choices=("production", "development"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fhirbridge-bench-issuer-") as keys:
        issuer = Issuer(Path(keys))
        for name in args.backends.split(","):
            with fresh_backend(name) as backend:  # migrated outside any event loop, as bench.feed does
                data = uvloop.run(seed(backend, args.contracts))
                uvloop.run(run_backend(backend, data, args, issuer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

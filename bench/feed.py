"""The change feed read by one client while writers run (issue 15: at least 5,000 changes/s).

    .venv/bin/python -m bench.feed [--backends sqlite,postgresql] [--contracts 2000]
        [--writers 8] [--duration 10] [--page 1000] [--mode production|development] [--profile]

For each backend: a fresh database seeded with ``--contracts`` contracts (:mod:`bench.seed`), the
service in production mode (:mod:`bench.server`, :mod:`bench.modes`), then, at the same time,
``--writers`` connections updating contracts (the ``update`` scenario) for ``--duration`` seconds
and one sync client, the region's integration (``system/*.rs``), following the feed
``GET /fhir/_history?_sort=_lastUpdated&_count={page}`` from its start, page after page on one
keep-alive connection, until the writers have stopped and a page has no ``next`` link (or is
a short page of nothing but AuditEvents: the access log of the reader's own last pages).
Prints the changes it read a second while it was behind the writers (from its start to its
first page shorter than ``--page``: a feed page with something read has a ``next`` link even
when it was the last for now, so that the reader resumes there; once at the head, the reader
reads only as fast as the writers write), the writers' rate, p50, p99 and max latency of its
full pages (from request to the whole answer read), the service's CPU time per 1,000 versions read (the writers' work
included: with ``--writers 0`` the feed's own cost, and the figure least moved by others' load
on the machine), and whether it read each stored version exactly once; with
``--profile``, where the server spent its time meanwhile (py-spy, :mod:`bench.profile`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/feed.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import orjson
import uvloop

from bench.loadgen import LoadGenerator
from bench.modes import READER, Issuer, mode
from bench.profile import Recording, format_summary
from bench.scenarios import update_scenario
from bench.seed import Backend, SeededData, fresh_backend, seed
from bench.server import ServiceProcess
from fhirbridge.storage.engines import open_database

HOST = "127.0.0.1"


async def follow(
    port: int, token: str | None, page: int, writers_done: asyncio.Event, latencies: list[float]
) -> tuple[Counter[str], float, int]:
    """Read the feed until the writers are done and a page has no next link; returns every
    version read, the seconds it took to catch up with the writers (its first short page) and
    what it had read by then,
    and adds each full page's latency (request to whole answer read) to ``latencies``."""
    seen: Counter[str] = Counter()
    url: str | None = f"/fhir/_history?_sort=_lastUpdated&_count={page}"
    resume = url
    started = time.perf_counter()
    while_writing: tuple[float, int] | None = None
    gc.disable()  # its pages' objects are freed as they go; a collection would only pause the reader
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}", headers={"Authorization": f"Bearer {token}"} if token else {}
    ) as http:
        while True:
            assert url is not None
            asked = time.perf_counter()
            response = await http.get(url, timeout=60)
            taken = time.perf_counter() - asked
            response.raise_for_status()
            bundle = orjson.loads(response.content)
            entries = bundle.get("entry", [])
            if len(entries) == page:
                latencies.append(taken)
            for entry in entries:
                seen[f"{entry['fullUrl']}|{entry['response']['etag']}"] += 1
            following = next((item["url"] for item in bundle["link"] if item["relation"] == "next"), None)
            # Once the writers are done, a short page of nothing but AuditEvents is the end too:
            # each page is logged, and a reader slower than the log's flush would otherwise chase
            # the entries of its own last page for ever.
            own_log = len(entries) < page and all("/AuditEvent/" in entry["fullUrl"] for entry in entries)
            if writers_done.is_set() and (following is None or own_log):
                break
            if len(entries) < page and while_writing is None:  # caught up: all there was, read
                while_writing = (time.perf_counter() - started, sum(seen.values()))
            if following is not None:
                url = resume = following.removeprefix(f"http://{HOST}:{port}")
            else:  # nothing new: ask the same link again
                url = resume
            if len(entries) < page:  # at the head: poll, as a sync client does
                await asyncio.sleep(0.05)
    gc.enable()
    if while_writing is None:  # never caught up while the writers ran
        while_writing = (time.perf_counter() - started, sum(seen.values()))
    return seen, *while_writing


async def run_backend(backend: Backend, data: SeededData, args: argparse.Namespace, issuer: Issuer) -> None:
    production = mode(args.mode, issuer)
    name = backend.name
    with (
        tempfile.TemporaryDirectory(prefix="fhirbridge-bench-feed-") as logs,
        ServiceProcess(backend.url, Path(logs) / "service.log", production.environment) as service,
    ):
        scenario = update_scenario(data)
        credentials = production.credentials(scenario.callers)
        generator = LoadGenerator(HOST, service.port, args.writers, credentials)
        done = asyncio.Event()

        async def writers() -> float:
            result = await generator.run(scenario.factory, duration_s=args.duration)
            done.set()
            return result.rate

        token = production.issuer.token(READER) if production.issuer is not None else None
        recording = Recording(service.pid, args.duration, Path(logs) / "feed.raw") if args.profile else None
        latencies: list[float] = []
        cpu_before = cpu_seconds(service.pid)
        rate, (seen, seconds, read) = await asyncio.gather(
            writers(), follow(service.port, token, args.page, done, latencies)
        )
        cpu = cpu_seconds(service.pid) - cpu_before
        if recording is not None:
            recording.wait()
            print(format_summary(f"{name} feed", recording.output), flush=True)
    database = await open_database(backend.url, pool_size=1)
    try:
        async with database.reader() as conn:
            # The access log's AuditEvents of the reader's last pages are written after it stopped.
            stored = int(await conn.fetchval("SELECT count(*) FROM resource_versions WHERE res_type <> 'AuditEvent'"))
    finally:
        await database.close()
    twice = sum(1 for count in seen.values() if count > 1)
    seen = Counter({key: count for key, count in seen.items() if "/AuditEvent/" not in key})
    print(
        f"{name}, {args.mode}: {read / seconds:,.0f} changes/s read while {args.writers} writers ran "
        f"({read:,} in {seconds:.1f} s until caught up); "
        f"writers {rate:,.0f} updates/s; {pages(latencies, args.page)}; "
        f"service CPU {cpu:.1f} s, {1e6 * cpu / max(1, sum(seen.values())):.0f} ms per 1,000 versions read; "
        f"read {len(seen):,} of the {stored:,} versions stored (AuditEvents aside) "
        f"(each once: {len(seen) == stored and not twice}, read twice: {twice})",
        flush=True,
    )


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used (Linux ``/proc``): what its work cost,
    whatever else the machine's cores were busy with."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pages(latencies: list[float], size: int) -> str:
    """p50, p99 and max of the full pages' latencies, in ms."""
    if not latencies:
        return f"no full page of {size}"
    ordered = sorted(1000 * value for value in latencies)
    p50, p99 = (ordered[min(len(ordered) - 1, int(share * len(ordered)))] for share in (0.5, 0.99))
    return f"{len(ordered)} full pages of {size}: p50 {p50:,.0f} ms, p99 {p99:,.0f} ms, max {ordered[-1]:,.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--contracts", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--mode", default="production", choices=("production", "development"))
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy while the writers run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fhirbridge-bench-issuer-") as keys:
        issuer = Issuer(Path(keys))
        for name in args.backends.split(","):
            with fresh_backend(name) as backend:  # migrated outside any event loop, as bench.run does
                data = uvloop.run(seed(backend, args.contracts))
                gc.collect()
                gc.freeze()  # keep the client's collector off the seeded data while it reads pages
                try:
                    uvloop.run(run_backend(backend, data, args, issuer))
                finally:
                    gc.unfreeze()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

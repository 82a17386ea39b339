"""The follow-up report over a large region (issue 13, "Speed"): the full report, every figure,
over ``--contracts`` contracts with ``--answers`` seven-questions responses each, all begun and
answered in the last year that has ended (the report's period), on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.report_run [--backends sqlite,postgresql] [--contracts 100000]
        [--answers 2] [--repeats 3]

For each backend: a fresh database (:func:`bench.seed.fresh_backend`), the shared directory
through the Loader and the contracts and responses written directly (:mod:`bench.bulk`, with
the projection rows the write path keeps), then ``--repeats`` runs of
:func:`fhirbridge.report.engine.build_report`, each in a new process so that its peak memory
(ru_maxrss) is its own: the seconds the report took and the process's peak resident memory
after it beside the peak before it (imports, the database engine), and the seconds of
``GET /report`` in production mode (bearer token, access policy, access log) in the same
process: computed (the kept releases are deleted before each measurement) and again (the kept
release, :mod:`fhirbridge.report.releases`).  Before the runs, in a process of its own, the
year's tertials are frozen (:mod:`fhirbridge.report.freeze`: what the service's background
freezer does once per tertial), timed on its own.  Prints a
Markdown table of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _measure(url: str) -> dict[str, float]:
    from fhirbridge.fhir.instants import now_us
    from fhirbridge.report.engine import build_report
    from fhirbridge.report.filters import parse_filters
    from fhirbridge.storage.engines import open_database

    database = await open_database(url, pool_size=2)
    try:
        await _forget_releases(database)
        before = _rss_mb("VmHWM")  # the peak so far: imports, the engines
        started = time.perf_counter()
        filters = parse_filters(str(_year()))
        report = await build_report(database, filters, readable=lambda _: None, now_us=now_us(), minimum=5)
        seconds = time.perf_counter() - started
        await _forget_releases(database)  # GET /report computes its release again
    finally:
        await database.close()
    total = report.figure("contracts_by_unit")
    computed, released = await _measure_http(url)
    return {
        "seconds": seconds,
        "http_seconds": computed,
        "released_seconds": released,
        "rss_before_mb": before,
        "peak_rss_mb": _rss_mb("VmHWM"),
        "contracts": float(getattr(total, "total", 0) or 0),
    }


async def _forget_releases(database: Any) -> None:
    """Delete the kept releases (:mod:`fhirbridge.report.releases`), so the next report is computed."""
    async with database.transaction() as conn:
        await conn.execute("DELETE FROM report_releases")


async def _measure_freeze(url: str) -> dict[str, float]:
    """Freezing the year's three tertials (what the service's background freezer does once per
    tertial, :mod:`fhirbridge.report.freezer`), in a process of its own."""
    from fhirbridge.report.engine import band_tables
    from fhirbridge.report.filters import parse_period, tertials
    from fhirbridge.report.freeze import ensure_frozen
    from fhirbridge.storage.engines import open_database

    database = await open_database(url, pool_size=2)
    try:
        year = parse_period(str(_year()))
        started = time.perf_counter()
        await ensure_frozen(database, tertials(year.start, year.end), band_tables)
        return {"freeze_seconds": time.perf_counter() - started}
    finally:
        await database.close()


async def _measure_http(url: str) -> tuple[float, float]:
    """``GET /report?format=json`` in production mode, as a region's reporting service asks
    it: a bearer token from the benchmark's own issuer (:mod:`bench.modes`), the access
    policy's unit rule and the access log, through the app in this process; the first asking
    of the month (computed and kept) and the second (the kept release)."""
    import tempfile

    import httpx

    from bench.modes import AUDIENCE, ISSUER, READER, Issuer
    from fhirbridge.config import Settings, TrustedIssuer
    from fhirbridge.rest.app import create_app

    with tempfile.TemporaryDirectory() as folder:
        issuer = Issuer(Path(folder))
        settings = Settings(
            database_url=url,
            auto_migrate=False,
            outbox_worker="off",
            rate_limit_per_second=0,
            log_level="warning",
            auth="jwt",
            auth_issuers=[TrustedIssuer(issuer=ISSUER, jwks=str(issuer.jwks))],
            auth_audience=[AUDIENCE],
        )
        app = create_app(settings)
        headers = {"Authorization": f"Bearer {issuer.token(READER)}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench.test") as http,
        ):
            seconds = []
            for _ in range(2):
                started = time.perf_counter()
                response = await http.get(
                    "/report", params={"format": "json", "period": str(_year())}, headers=headers, timeout=120
                )
                seconds.append(time.perf_counter() - started)
                response.raise_for_status()
    return seconds[0], seconds[1]


def _year() -> int:
    """The last year that has ended: the report's period (a report is made for ended periods)."""
    from datetime import date

    return date.today().year - 1


async def _seed(url: str, contracts: int, answers: int) -> float:
    """Every contract begun, and every response authored, in :func:`_year`."""
    from datetime import date

    from bench.bulk import bulk_seed
    from bench.seed import load_shared

    shared = await load_shared(url)
    end = date(_year(), 12, 31)
    return await bulk_seed(url, contracts, first_pk=shared, answers_per_contract=answers, today=end, span_days=354)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.report_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--answers", type=int, default=2, help="seven-questions responses per contract")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--freeze", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(asyncio.run(_measure(args.measure))))
        return 0
    if args.freeze:
        print(json.dumps(asyncio.run(_measure_freeze(args.freeze))))
        return 0
    from bench.seed import fresh_backend

    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        f"{args.contracts:,} contracts, {args.contracts * args.answers:,} QuestionnaireResponses",
        "",
        "| backend | seeding (s) | freezing the year (s) | report, median (s) | runs (s) "
        "| GET /report, production mode, median (s) | runs (s) | GET /report, kept release, median (s) "
        "| peak RSS before report (MB) | peak RSS after (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in [n.strip() for n in args.backends.split(",") if n.strip()]:
        with fresh_backend(name) as backend:
            seeded = asyncio.run(_seed(backend.url, args.contracts, args.answers))
            frozen = subprocess.run(
                [sys.executable, "-m", "bench.report_run", "--freeze", backend.url],
                check=True,
                capture_output=True,
                text=True,
            )
            freeze_seconds = json.loads(frozen.stdout.strip().splitlines()[-1])["freeze_seconds"]
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.report_run", "--measure", backend.url],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"{name}: {runs[-1]}", file=sys.stderr)
            seconds = [run["seconds"] for run in runs]
            over_http = [run["http_seconds"] for run in runs]
            released = statistics.median(run["released_seconds"] for run in runs)
            before = statistics.median(r["rss_before_mb"] for r in runs)
            peak = max(r["peak_rss_mb"] for r in runs)
            lines.append(
                f"| {name} | {seeded:.0f} | {freeze_seconds:.2f} | {statistics.median(seconds):.2f} | "
                f"{', '.join(f'{s:.2f}' for s in seconds)} | {statistics.median(over_http):.2f} | "
                f"{', '.join(f'{s:.2f}' for s in over_http)} | {released:.3f} | {before:.0f} | {peak:.0f} |"
            )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bulk export of many contracts (issue 15, "Speed and memory"): peak RSS and resources a second
of ``fhirbridge export``, the same writer that serves ``$export`` (src/fhirbridge/export/writer.py).

Seeds a fresh database with ``--contracts`` compact contracts (Patient, CareTeam, two Goals and
the contract CarePlan each, :mod:`bench.bulk`) and the shared units and clinicians, then exports
everything to NDJSON files in a child process and prints the child's peak RSS (``wait4``'s
``ru_maxrss``), the time and the throughput::

    .venv/bin/python -m bench.export --contracts 100000
    .venv/bin/python -m bench.export --contracts 20000 --backend postgresql

The figures are in docs/benchmarks.md ("Bulk export").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.seed import fresh_backend, seed_bulk

ROOT = Path(__file__).resolve().parents[1]


LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(f'peak-rss-kib {usage.ru_maxrss}', flush=True)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)
"""Starts the export from a small process of its own: a child's ``ru_maxrss`` counts the memory
of the process it was forked from (Linux keeps the old image's high-water mark across ``exec``),
and this one holds the seeded rows' memory."""


def measure(url: str, folder: Path, src: Path) -> tuple[int, float, str]:
    """Peak RSS (KiB), seconds and the summary line of ``fhirbridge export folder``."""
    environment = dict(
        os.environ,
        PYTHONPATH=str(src),
        FHIRBRIDGE_DATABASE_URL=url,
        FHIRBRIDGE_AUTH="off",
        TQDM_DISABLE="1",
    )
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "fhirbridge", "export", str(folder)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = finished.stdout + finished.stderr
    if finished.returncode != 0:
        raise SystemExit(f"fhirbridge export failed: {output[-2000:]}")
    summary = next((line for line in output.splitlines() if " resources as of " in line), output[-500:])
    peak = next(int(line.split()[1]) for line in output.splitlines() if line.startswith("peak-rss-kib "))
    return peak, elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=100_000, help="contracts to seed (default %(default)s)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the source tree to run (default: this one)")
    args = parser.parse_args()
    with fresh_backend(args.backend) as backend:
        seeded = asyncio.run(seed_bulk(backend, args.contracts))
        with tempfile.TemporaryDirectory(prefix="fhirbridge-export-") as scratch:
            rss_kib, seconds, summary = measure(backend.url, Path(scratch), args.src)
            size = sum(path.stat().st_size for path in Path(scratch).iterdir())
    exported = int(summary.split()[0])
    print(f"backend {args.backend}: {args.contracts} contracts, {seeded.resources} resources seeded")
    print(f"exported {exported} resources ({size / 1e6:.0f} MB of NDJSON) in {seconds:.1f} s")
    rate = exported / seconds
    print(f"throughput {rate:,.0f} resources/s (process start included); peak RSS {rss_kib / 1024:.0f} MB")


if __name__ == "__main__":
    main()

"""Bulk export of many contracts (issue 15, "Speed and memory"): peak RSS and resources a second
of ``fhirbridge export``, the same writer that serves ``$export`` (src/fhirbridge/export/writer.py).

Seeds a fresh database with ``--contracts`` compact contracts (Patient, CareTeam, two Goals and
the contract CarePlan each, :mod:`bench.bulk`) and the shared units and clinicians, then exports
everything to NDJSON files ``--runs`` times (default 3), each in a fresh process, and prints
each run's peak RSS, time and throughput and their medians::

    .venv/bin/python -m bench.export --contracts 100000
    .venv/bin/python -m bench.export --contracts 20000 --backend postgresql

The peak RSS is the export process's own, measured two ways that must agree: the ``VmHWM`` of
``/proc/PID/status`` (the high-water mark of the process's own address space, which ``exec``
starts afresh), read until the process ends, and ``wait4``'s ``ru_maxrss`` from a small launcher
process (see :data:`LAUNCHER`).

The figures are in docs/benchmarks.md ("Bulk export").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
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


def _high_water_kib(pid: int) -> int | None:
    """``VmHWM`` of a running process (KiB); None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)


class HighWater:
    """Reads the ``VmHWM`` of the launcher's child (the export itself) every 20 ms until it ends:
    the mark only rises, so the last reading is its peak up to its last 20 ms."""

    def __init__(self, launcher_pid: int) -> None:
        self.launcher_pid = launcher_pid
        self.kib = 0
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _child(self) -> int | None:
        try:
            children = Path(f"/proc/{self.launcher_pid}/task/{self.launcher_pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def _watch(self) -> None:
        child = None
        while Path(f"/proc/{self.launcher_pid}").exists():
            child = child or self._child()
            if child is not None:
                mark = _high_water_kib(child)
                if mark is not None:
                    self.kib = max(self.kib, mark)
            time.sleep(0.02)


def measure(url: str, folder: Path, src: Path) -> tuple[int, int, float, str]:
    """Peak RSS (KiB) by ``ru_maxrss`` and by ``VmHWM``, seconds and the summary line of
    ``fhirbridge export folder``."""
    environment = dict(
        os.environ,
        PYTHONPATH=str(src),
        FHIRBRIDGE_DATABASE_URL=url,
        FHIRBRIDGE_AUTH="off",
        TQDM_DISABLE="1",
    )
    started = time.monotonic()
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, sys.executable, "-m", "fhirbridge", "export", str(folder)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    high_water = HighWater(launcher.pid)
    output, _ = launcher.communicate()
    elapsed = time.monotonic() - started
    high_water.thread.join()
    if launcher.returncode != 0:
        raise SystemExit(f"fhirbridge export failed: {output[-2000:]}")
    summary = next((line for line in output.splitlines() if " resources as of " in line), output[-500:])
    peak = next(int(line.split()[1]) for line in output.splitlines() if line.startswith("peak-rss-kib "))
    return peak, high_water.kib, elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=100_000, help="contracts to seed (default %(default)s)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3, help="exports of the one seeded database (default %(default)s)")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the source tree to run (default: this one)")
    args = parser.parse_args()
    with fresh_backend(args.backend) as backend:
        seeded = asyncio.run(seed_bulk(backend, args.contracts))
        print(f"backend {args.backend}: {args.contracts} contracts, {seeded.resources} resources seeded", flush=True)
        runs = []
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory(prefix="fhirbridge-export-") as scratch:
                rss_kib, hwm_kib, seconds, summary = measure(backend.url, Path(scratch), args.src)
                size = sum(path.stat().st_size for path in Path(scratch).iterdir())
            exported = int(summary.split()[0])
            rate = exported / seconds
            runs.append((rss_kib, hwm_kib, seconds, rate))
            print(
                f"run {run}: exported {exported} resources ({size / 1e6:.0f} MB of NDJSON) in {seconds:.1f} s, "
                f"{rate:,.0f} resources/s (process start included); peak RSS {rss_kib / 1024:.0f} MB "
                f"(ru_maxrss), {hwm_kib / 1024:.0f} MB (VmHWM); load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    rss, hwm, seconds, rate = (statistics.median(run[i] for run in runs) for i in range(4))
    print(
        f"median of {len(runs)}: {seconds:.1f} s, {rate:,.0f} resources/s; "
        f"peak RSS {rss / 1024:.0f} MB (ru_maxrss), {hwm / 1024:.0f} MB (VmHWM)"
    )


if __name__ == "__main__":
    main()

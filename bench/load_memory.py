"""Peak memory of ``fhirbridge load`` on a large file (issue 17 item 6): the loader streams, so
its peak RSS stays about the same whatever the size of the file.

Generates an NDJSON file (or a Bundle) of about ``--megabytes`` MB: one Patient and Goals
with a long description each (realistic Swedish text, unique ids), loads it into a fresh SQLite
file with ``fhirbridge load`` in a child process, and prints the child's peak RSS (``wait4``'s
``ru_maxrss``), the time and the command's summary line::

    .venv/bin/python -m bench.load_memory --megabytes 200 --format ndjson
    .venv/bin/python -m bench.load_memory --megabytes 200 --format bundle
    .venv/bin/python -m bench.load_memory --megabytes 20 --src /path/to/older/src   # another tree

The figures are in docs/benchmarks.md ("Loading a large file").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PATIENT_ID = "bench-load-patient"
TEXT = (
    "Patienten vill kunna gå till affären själv och orka promenera till busshållplatsen. "
    "Vi följer upp vid nästa besök tillsammans med den fasta vårdkontakten. "
)


def _patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"}],
        "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
        "gender": "male",
        "birthDate": "1912-12-12",
    }


def _goals(megabytes: int, text_bytes: int) -> Iterator[dict[str, Any]]:
    text = (TEXT * (text_bytes // len(TEXT) + 1))[:text_bytes]
    subject = {"reference": f"Patient/{PATIENT_ID}"}
    written, number = 0, 0
    while written < megabytes * 1_000_000:
        number += 1
        goal = {
            "resourceType": "Goal",
            "id": f"bench-goal-{number}",
            "lifecycleStatus": "active",
            "description": {"text": f"{number}: {text}"},
            "subject": subject,
            "expressedBy": subject,
        }
        written += len(json.dumps(goal, ensure_ascii=False).encode()) + 1
        yield goal


def generate(path: Path, megabytes: int, fmt: str, text_bytes: int) -> int:
    """Write the file; the number of resources in it."""
    count = 1
    with path.open("w", encoding="utf-8") as out:
        if fmt == "ndjson":
            out.write(json.dumps(_patient(), ensure_ascii=False) + "\n")
            for goal in _goals(megabytes, text_bytes):
                out.write(json.dumps(goal, ensure_ascii=False) + "\n")
                count += 1
            return count
        out.write('{"resourceType": "Bundle", "type": "collection", "entry": [')
        out.write(json.dumps({"resource": _patient()}, ensure_ascii=False))
        for goal in _goals(megabytes, text_bytes):
            out.write(",\n" + json.dumps({"resource": goal}, ensure_ascii=False))
            count += 1
        out.write("]}\n")
    return count


def measure(path: Path, database: Path, src: Path) -> tuple[int, float, str]:
    """Peak RSS (KiB), seconds and the last line of ``fhirbridge load path``."""
    environment = dict(
        os.environ,
        PYTHONPATH=str(src),
        FHIRBRIDGE_DATABASE_URL=f"sqlite:///{database}",
        FHIRBRIDGE_AUTH="off",
        TQDM_DISABLE="1",
    )
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "fhirbridge", "load", str(path)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    summary = next((line for line in output.splitlines() if " written, " in line), output[-500:])
    if child.returncode != 0:
        raise SystemExit(f"fhirbridge load exited {child.returncode}: {output[-2000:]}")
    return usage.ru_maxrss, elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=200, help="size of the generated file (default %(default)s)")
    parser.add_argument("--format", choices=("ndjson", "bundle"), default="ndjson", help="NDJSON lines or one Bundle")
    parser.add_argument("--text-bytes", type=int, default=8000, help="each Goal's description (default %(default)s)")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the source tree to run (default: this one)")
    parser.add_argument("--folder", type=Path, default=None, help="where to write the file and database (a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as scratch:
        folder = Path(scratch)
        path = folder / ("large.ndjson" if args.format == "ndjson" else "large.json")
        count = generate(path, args.megabytes, args.format, args.text_bytes)
        size = path.stat().st_size
        peak, seconds, summary = measure(path, folder / "load.db", args.src)
    print(f"{args.format}: {size / 1e6:.0f} MB, {count} resources; {summary}")
    print(f"peak RSS {peak / 1024:.0f} MiB, {seconds:.0f} s ({count / seconds:.0f} resources/s)")


if __name__ == "__main__":
    main()

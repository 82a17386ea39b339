"""What one batch of the access log costs per event (issue 12), in-process.

    .venv/bin/python -m bench.audit_batch [--backends sqlite,postgresql] [--sizes 50,200,1000] [--repeats 7]

Writes batches of AuditEvents, as a read by one clinician of one patient's plan logs them,
through the log's own batch writer (``AuditLog._write``: one transaction, begin and commit
included) on a fresh database of each kind (PostgreSQL durable, as the benchmarks run it), and
prints per batch size the median wall time per event and the median CPU time of this process per
event (on PostgreSQL the rest is the server's).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

from bench.seed import fresh_backend
from fhirbridge.audit.events import Seen, audit_event
from fhirbridge.config import Settings
from fhirbridge.fhir.instants import now_us
from fhirbridge.identity import Identity
from fhirbridge.rest.app import create_app

CLINICIAN = Identity(kind="user", subject="Practitioner/p-1", on_behalf_of="Organization/u-1", client_id="journal")


def event(number: int) -> dict[str, Any]:
    seen = Seen()
    seen.note(f"CarePlan/plan-{number}/_history/1", frozenset({f"patient-{number % 50}"}))
    return audit_event(
        CLINICIAN,
        interaction="read",
        operation=None,
        status=200,
        message=None,
        seen=seen,
        query=None,
        client_address="10.1.2.3",
        now_us=now_us(),
    )


async def measure(url: str, sizes: list[int], repeats: int) -> dict[int, tuple[float, float]]:
    """Per size: the median wall and CPU time per event, in µs."""
    app = create_app(Settings(database_url=url, auth="off", outbox_worker="off", audit_flush_seconds=3600))
    found: dict[int, tuple[float, float]] = {}
    async with app.router.lifespan_context(app):
        audit = app.state.context.audit
        await audit._write([(str(uuid.uuid4()), event(n)) for n in range(200)])  # warm up
        for size in sizes:
            wall, cpu = [], []
            for _ in range(repeats):
                events = [(str(uuid.uuid4()), event(n)) for n in range(size)]
                started, used = time.perf_counter(), time.process_time()
                await audit._write(events)
                wall.append((time.perf_counter() - started) / size * 1e6)
                cpu.append((time.process_time() - used) / size * 1e6)
            found[size] = (statistics.median(wall), statistics.median(cpu))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    for name in arguments.backends.split(","):
        with fresh_backend(name) as backend:
            found = asyncio.run(measure(backend.url, sizes, arguments.repeats))
        cells = "  ".join(f"{size}: {wall:.0f} µs/event ({cpu:.0f} CPU here)" for size, (wall, cpu) in found.items())
        print(f"{name:<10} {cells}", flush=True)


if __name__ == "__main__":
    main()

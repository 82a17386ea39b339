"""What one delivery-worker poll costs in heartbeats with a few hundred topic Subscriptions.

    .venv/bin/python -m bench.heartbeats [--subscriptions 300] [--polls 50]

A fresh SQLite database (in a temporary folder) gets ``--subscriptions`` active topic-based
Subscriptions written by the server itself, a third of them asking for a heartbeat every hour
(so none is due: the common poll); then :meth:`OutboxWorker.heartbeats` runs once to start their
periods, and ``--polls`` times more, timed.  Prints the median and the mean milliseconds a poll.
Run it with ``PYTHONPATH`` naming another checkout's ``src`` to measure that code instead.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/heartbeats.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fhirbridge.config import Settings
from fhirbridge.identity import SYSTEM
from fhirbridge.notifications.delivery import OutboxWorker
from fhirbridge.rest.app import create_app
from fhirbridge.validation.pipeline import ValidatedResource, validate_resource
from fhirbridge.writes.unit_of_work import UnitOfWork

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
TOPIC = "https://fhirbridge.se/fhir/SubscriptionTopic/contract-revised"


def subscription(number: int, heartbeat: bool) -> dict[str, object]:
    channel: dict[str, object] = {
        "type": "rest-hook",
        "endpoint": f"https://journal{number}.region.example/fhir-notify",
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": f"{BACKPORT}/backport-payload-content", "valueCode": "id-only"}]},
    }
    if heartbeat:
        channel["extension"] = [{"url": f"{BACKPORT}/backport-heartbeat-period", "valueUnsignedInt": 3600}]
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "bench",
        "criteria": TOPIC,
        "channel": channel,
    }


async def main(count: int, polls: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{folder}/bench.db", outbox_worker="off", auth="off")
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            context = app.state.context
            for number in range(count):
                validated = validate_resource(
                    subscription(number, number % 3 == 0), "Subscription", url_id=None, local_base=None
                )

                async def work(unit: UnitOfWork, validated: ValidatedResource = validated) -> None:
                    await unit.create(validated)

                await context.repository.store.write(SYSTEM, None, work)
            worker = OutboxWorker.for_settings(context.repository.database, settings)
            try:
                await worker.heartbeats()  # starts every period
                times = []
                for _ in range(polls):
                    started = time.perf_counter()
                    await worker.heartbeats()
                    times.append((time.perf_counter() - started) * 1000)
            finally:
                await worker.close()
    print(
        f"{count} topic Subscriptions ({len(range(0, count, 3))} with a heartbeat): "
        f"heartbeats() median {statistics.median(times):.2f} ms, mean {statistics.mean(times):.2f} ms a poll"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=300)
    parser.add_argument("--polls", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.subscriptions, arguments.polls))

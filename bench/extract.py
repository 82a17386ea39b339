"""Latency of ``QuestionnaireResponse/{id}/$extract`` (issue 13: under 20 ms), in-process.

    .venv/bin/python -m bench.extract [--calls 1000] [--mode production,development] [--audit-flush 0.2]

Stores a patient, a unit, a role and one answered contract conversation (with a proposed fixed
care contact) through the API of an app in this process (no network), then times ``--calls``
sequential ``GET …/$extract`` requests end to end through the ASGI app (authentication, the
access policy, the read, the draft, JSON rendering, the access log) and prints the median, p99
and max, in production mode (bearer tokens) and development mode, one after the other.  The app
runs as ``fhirbridge serve`` runs it: its heap frozen after start-up (else a full collection of
the FHIR definitions, about 0.1 s, lands in a run now and then).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.modes import AUDIENCE, INTEGRATION, ISSUER, READER, Issuer
from fhirbridge.config import Settings, TrustedIssuer
from fhirbridge.rest.app import create_app
from fhirbridge.storage.migrations import upgrade
from fhirbridge.sweden.identifiers import HSA_SYSTEM, PERSONNUMMER_SYSTEM

CONVERSATION = "https://fhirbridge.se/fhir/Questionnaire/contract-conversation"
AUDIT_FLUSH = 0.2
"""The access log's loss window, as deployed."""


def _answer(link_id: str, **value: Any) -> dict[str, Any]:
    return {"linkId": link_id, "answer": [value]}


async def _post(http: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    response = await http.post(f"/fhir/{resource['resourceType']}", json=resource)
    response.raise_for_status()
    return str(response.json()["id"])


async def _conversation(http: httpx.AsyncClient) -> str:
    unit = await _post(
        http,
        {
            "resourceType": "Organization",
            "name": "Vårdcentralen Norrtull",
            "identifier": [{"system": HSA_SYSTEM, "value": "SE2321000198-E0000000001"}],
        },
    )
    person = await _post(http, {"resourceType": "Practitioner", "name": [{"family": "Lind", "given": ["Karin"]}]})
    role = await _post(
        http,
        {
            "resourceType": "PractitionerRole",
            "practitioner": {"reference": f"Practitioner/{person}"},
            "organization": {"reference": f"Organization/{unit}"},
        },
    )
    patient = await _post(
        http, {"resourceType": "Patient", "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": "191212121212"}]}
    )
    items = [
        _answer("what-matters", valueString="Att kunna gå till affären"),
        {
            "linkId": "shared-goal",
            "item": [
                _answer("shared-goal.description", valueString="Orka gå 500 meter"),
                _answer(
                    "shared-goal.ambition",
                    valueCoding={
                        "system": "https://fhirbridge.se/fhir/CodeSystem/ambition-level",
                        "code": "balanserad",
                    },
                ),
            ],
        },
        _answer("own-part", valueString="Promenera varje dag"),
        *(_answer(q, valueBoolean=False) for q in ("has-fixed-contact", "has-fixed-doctor", "knows-next-step")),
        _answer("has-plan-overview", valueBoolean=False),
        _answer("wants-coordination", valueBoolean=True),
        {
            "linkId": "fixed-contact-proposal",
            "item": [
                _answer("fixed-contact-proposal.unit", valueReference={"reference": f"Organization/{unit}"}),
                _answer("fixed-contact-proposal.person", valueReference={"reference": f"PractitionerRole/{role}"}),
            ],
        },
    ]
    return await _post(
        http,
        {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": CONVERSATION,
            "status": "completed",
            "subject": {"reference": f"Patient/{patient}"},
            "author": {"reference": f"PractitionerRole/{role}"},
            "authored": "2026-11-02T10:00:00+01:00",
            "item": items,
        },
    )


async def measure(
    database_url: str, calls: int, mode: str, issuer: Issuer, audit_flush: float
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each call (the CPU time of this process shows the
    cost apart from waiting for a core on a busy machine).  In production mode every request
    carries a bearer token from the benchmark's own issuer (:mod:`bench.modes`): the region's
    integration writes the conversation, a reading service (``system/*.rs``) extracts."""
    settings = Settings(
        database_url=database_url,
        auto_migrate=False,
        outbox_worker="off",
        rate_limit_per_second=0,
        log_level="warning",
        audit_flush_seconds=audit_flush,
        **_authentication(mode, issuer),
    )
    writer, reader = _headers(mode, issuer, INTEGRATION), _headers(mode, issuer, READER)
    app = create_app(settings, freeze_heap=True)  # as `fhirbridge serve` runs it
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench.test", headers=writer) as http,
    ):
        url = f"/fhir/QuestionnaireResponse/{await _conversation(http)}/$extract"
        http.headers.update(reader)
        for _ in range(20):  # warm-up
            (await http.get(url)).raise_for_status()
        timings, cpu = [], []
        for _ in range(calls):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = await http.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            response.raise_for_status()
    return timings, cpu


def _authentication(mode: str, issuer: Issuer) -> dict[str, Any]:
    if mode == "development":
        return {"auth": "off"}
    return {
        "auth": "jwt",
        "auth_issuers": [TrustedIssuer(issuer=ISSUER, jwks=str(issuer.jwks))],
        "auth_audience": [AUDIENCE],
    }


def _headers(mode: str, issuer: Issuer, caller: str) -> dict[str, str]:
    return {} if mode == "development" else {"Authorization": f"Bearer {issuer.token(caller)}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file per run)")
    parser.add_argument("--mode", default="production,development", help="production, development or both")
    parser.add_argument(
        "--audit-flush",
        type=float,
        default=AUDIT_FLUSH,
        help=f"the access log's loss window in seconds (default {AUDIT_FLUSH}, as deployed)",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        issuer = Issuer(Path(folder))
        for mode in arguments.mode.split(","):
            url = arguments.database or f"sqlite:///{Path(folder) / f'extract-{mode}.db'}"
            upgrade(url)
            timings, cpu = asyncio.run(measure(url, arguments.calls, mode, issuer, arguments.audit_flush))
            for label, figures in (("wall clock", sorted(timings)), ("CPU", sorted(cpu))):
                p99 = figures[min(len(figures) - 1, int(len(figures) * 0.99))]
                print(
                    f"$extract {mode}, access log every {arguments.audit_flush:g} s, {len(figures)} calls, {label}: "
                    f"median {statistics.median(figures):.2f} ms, p99 {p99:.2f} ms, max {figures[-1]:.2f} ms"
                )
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

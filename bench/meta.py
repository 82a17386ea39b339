"""``$meta`` at type and system level on many contracts (issue 17 item 4): the time of
``GET [base]/$meta`` and ``GET [base]/CarePlan/$meta`` for the region's integration (sees all),
a unit's clinician and a patient (both see part), in production mode.

Seeds a fresh database with ``--contracts`` compact contracts (:mod:`bench.bulk`), then labels
every ``--every``-th contract plan through ``$meta-add`` (five tags and a security label, so that
each label is carried by plans some callers may not see), and times each question in process
(httpx over ASGI, the median of ``--repeat``)::

    .venv/bin/python -m bench.meta --contracts 10000
    .venv/bin/python -m bench.meta --contracts 10000 --backend postgresql

The figures are in docs/benchmarks.md ("$meta at type and system level").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from tests.conftest import BASE
from tests.security.tokens import bearer, mint, production_settings, rsa_key, write_jwks

from bench.seed import fresh_backend, seed_bulk
from fhirbridge.demo.catalogue import CLINICIANS
from fhirbridge.rest.app import create_app

SYSTEM = "https://fhirbridge.se/fhir/CodeSystem/bench"
TAGS = [{"system": SYSTEM, "code": code} for code in ("psykiatri", "habilitering", "uppfoljning", "vardplan", "sip")]
RESTRICTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "NOPATIENT"}


async def run(url: str, contracts: int, every: int, repeat: int) -> list[tuple[str, str, float, int]]:
    key = rsa_key()
    with tempfile.TemporaryDirectory() as scratch:
        settings = production_settings(url, write_jwks(Path(scratch) / "jwks.json", key))
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=600) as client,
        ):
            admin = bearer(mint(key, scope="system/*.cruds", client_id="region-integration"))
            for index in range(1, contracts + 1, every):
                labels = {
                    "tag": [TAGS[index // every % len(TAGS)]],
                    **({"security": [RESTRICTED]} if index // every % 3 == 0 else {}),
                }
                body = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": labels}]}
                answer = await client.post(f"/fhir/CarePlan/bulk-contract-{index}/$meta-add", json=body, headers=admin)
                assert answer.status_code == 200, answer.text
            clinician = CLINICIANS[0]
            callers = {
                "integration (system/*.rs)": admin,
                "unit clinician (user/*.rs)": bearer(
                    mint(
                        key,
                        scope="user/*.rs",
                        fhirUser=f"Practitioner/prac-{clinician.key}",
                        organization=f"Organization/org-{clinician.unit}",
                    )
                ),
                "patient (patient/*.rs)": bearer(
                    mint(key, scope="patient/*.rs", fhirUser="Patient/bulk-patient-1", patient="bulk-patient-1")
                ),
            }
            results = []
            for who, headers in callers.items():
                for path in ("/fhir/$meta", "/fhir/CarePlan/$meta"):
                    times = []
                    for _ in range(repeat):
                        started = time.perf_counter()
                        answer = await client.get(path, headers=headers)
                        times.append(time.perf_counter() - started)
                        assert answer.status_code == 200, answer.text
                    meta = answer.json()["parameter"][0]["valueMeta"]
                    labels = sum(len(meta.get(k, [])) for k in ("profile", "tag", "security"))
                    results.append((who, path, statistics.median(times) * 1000, labels))
            return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=10_000, help="contracts to seed (default %(default)s)")
    parser.add_argument("--every", type=int, default=20, help="label every n-th plan (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=11, help="times each question is asked (default %(default)s)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with fresh_backend(args.backend) as backend:
        seeded = asyncio.run(seed_bulk(backend, args.contracts))
        results = asyncio.run(run(backend.url, args.contracts, args.every, args.repeat))
    print(f"backend {args.backend}: {args.contracts} contracts, {seeded.resources} resources seeded")
    for who, path, ms, labels in results:
        print(f"{who:30} {path:22} {ms:8.1f} ms  ({labels} labels)")


if __name__ == "__main__":
    main()

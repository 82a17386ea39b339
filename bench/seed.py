"""Fresh, seeded databases for a benchmark run.

A *contract* is what :func:`fhirbridge.demo.generator.patient_contract` returns for one
patient (Patient, RelatedPerson, two Goals, CareTeam, sometimes a SIP CarePlan, the contract
CarePlan, Appointment, Provenance); the shared Organizations, Practitioners and
PractitionerRoles are loaded once.  Everything goes through the project's own write path,
:class:`fhirbridge.loading.Loader` over :class:`fhirbridge.repository.FhirRepository`
(validation, versions, history, search index, referential integrity), in large batches of
one transaction each, not through HTTP.

What it measures: the seeding time and resources per second of that bulk write path (a side
figure; the benchmark proper is the HTTP scenarios).  Nothing is cached between runs: every
run creates a new SQLite file or a new PostgreSQL cluster and seeds it from scratch.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from tqdm import tqdm

from bench.bulk import CONTRACT_SIZE, bulk_seed, compact_contract, personnummer_of
from fhirbridge.bootstrap import repository_for
from fhirbridge.config import get_settings
from fhirbridge.demo.generator import clinicians, organisations, patient_contract
from fhirbridge.loading import Loader, SourcedResource
from fhirbridge.storage.engines import open_database
from fhirbridge.storage.migrations import upgrade

SEED = 2026
PRODUCTION_MEMORY = {
    "shared_buffers": "4GB",
    "effective_cache_size": "16GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "1GB",
}
Resource = dict[str, Any]


@dataclass
class Backend:
    """A fresh, empty database: its kind, URL, and (PostgreSQL) the postmaster's pid."""

    name: str
    url: str
    data_dir: Path
    postmaster_pid: int | None = None


@dataclass
class SeededData:
    """What the scenarios need from the seeding: contract CarePlans as they were stored (their
    subject and author name the patient and a clinician on the patient's care team), and the
    patients' personnummer (all of them, or a sample of a bulk seed)."""

    contracts: list[Resource] = field(default_factory=list)
    personnummer: list[str] = field(default_factory=list)
    resources: int = 0
    seconds: float = 0.0
    seeder: str = "loader"
    versions: dict[str, int] = field(default_factory=dict)
    """The version the last update stored, by contract id (absent: still the seeded version 1)."""

    @property
    def contract_ids(self) -> list[str]:
        return [contract["id"] for contract in self.contracts]


@contextmanager
def fresh_backend(name: str) -> Iterator[Backend]:
    """A new, migrated database of kind ``sqlite`` or ``postgresql``, removed afterwards."""
    if name == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="fhirbridge-bench-"))
        try:
            backend = Backend(name, f"sqlite:///{folder / 'bench.db'}", folder)
            upgrade(backend.url)
            yield backend
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    if name == "postgresql":
        from tests.support.postgres import ThrowawayPostgres

        # durable=True: fsync and synchronous commit on, as in production; memory settings as a
        # server with this machine's 24 GiB would have them.
        with ThrowawayPostgres(durable=True, settings=PRODUCTION_MEMORY) as server:
            pid = int((server.data / "postmaster.pid").read_text().split()[0])
            backend = Backend(name, server.url, server.data, postmaster_pid=pid)
            upgrade(backend.url)
            yield backend
        return
    raise ValueError(f"unknown backend {name!r}; use sqlite or postgresql")


def contract_resources(contracts: int, *, today: date | None = None) -> list[Resource]:
    """The shared organisations and clinicians, then ``contracts`` patients' contracts."""
    rng = random.Random(SEED)
    day = today or date.today()
    resources = [*organisations(), *clinicians()]
    taken: set[str] = set()
    for index in range(1, contracts + 1):
        resources.extend(patient_contract(index, day, rng, taken))
    return resources


async def seed(backend: Backend, contracts: int, *, batch_size: int = 1000) -> SeededData:
    """Write ``contracts`` contracts into ``backend`` through the Loader, with a progress bar."""
    resources = contract_resources(contracts)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    data = SeededData(
        contracts=[r for r in resources if r["resourceType"] == "CarePlan" and r["id"].startswith("demo-contract-")],
        personnummer=[r["identifier"][0]["value"] for r in patients],
        resources=len(resources),
    )
    items = [SourcedResource(f"bench:{r['resourceType']}/{r['id']}", r) for r in resources]
    database = await open_database(backend.url, pool_size=2)
    started = time.perf_counter()
    try:
        loader = Loader(repository_for(database, get_settings()), batch_size=batch_size)
        with tqdm(total=len(items), desc=f"seeding {backend.name}", unit="res", file=sys.stderr) as bar:
            report = await loader.load(items, progress=bar)
    finally:
        await database.close()
    data.seconds = time.perf_counter() - started
    if report.rejected:
        first = report.rejected[0]
        raise RuntimeError(
            f"{len(report.rejected)} seed resources were rejected, e.g. {first.summary}: {first.problems}"
        )
    if backend.name == "postgresql":
        await _settle_postgres(backend.url)
    return data


SAMPLE = 10_000


async def seed_bulk(backend: Backend, contracts: int) -> SeededData:
    """The shared organisations and clinicians through the Loader, then ``contracts`` compact
    contracts written directly (:mod:`bench.bulk`); the scenarios get a sample of them."""
    shared = [*organisations(), *clinicians()]
    first_pk = await load_shared(backend.url)
    seconds = await bulk_seed(backend.url, contracts, first_pk=first_pk)
    sample = random.Random(SEED).sample(range(1, contracts + 1), min(SAMPLE, contracts))
    today = date.today()
    compact = {index: compact_contract(index, today) for index in sample}
    return SeededData(
        contracts=[resources[-1] for resources in compact.values()],
        personnummer=[personnummer_of(index) for index in compact],
        resources=len(shared) + contracts * CONTRACT_SIZE,
        seconds=seconds,
        seeder="bulk",
    )


async def load_shared(url: str) -> int:
    """The shared organisations and clinicians through the Loader; the first free key after them."""
    database = await open_database(url, pool_size=2)
    try:
        await Loader(repository_for(database, get_settings())).load(
            SourcedResource(f"bench:{r['id']}", r) for r in [*organisations(), *clinicians()]
        )
        async with database.reader() as conn:
            return int(await conn.fetchval("SELECT COALESCE(MAX(pk), 0) + 1 FROM resources"))
    finally:
        await database.close()


async def _settle_postgres(url: str) -> None:
    """What autovacuum and the checkpointer would soon do anyway after a bulk load: planner
    statistics, visibility map, and no checkpoint of the seed's pages during the measurement."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()

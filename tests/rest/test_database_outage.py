"""A PostgreSQL server stopped and started again under load, in production mode.

Clients keep writing (and reading) while the server is stopped twice, once as an
administrator stops it (``pg_ctl -m fast``: sessions end with "terminating connection due to
administrator command") and once as it crashes (``-m immediate``), and started again.  What a
client may see: 2xx, or 503 ``transient`` with ``Retry-After``; never a 500.  Every write that
was acknowledged is there afterwards, every acknowledged request is in the access log, the
service recovers without a restart, and the log says each fault once (a line when it starts,
a line when it ends), without tracebacks.

The test runs its own cluster (durable: a commit is acknowledged only once it is on disk),
so that the suite's shared server is never stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from fhirbridge.config import Settings, TrustedIssuer
from fhirbridge.rest.app import create_app
from tests.conftest import BASE
from tests.security.callers import admin
from tests.security.tokens import AUDIENCE, ISSUER, SigningKey, rsa_key, write_jwks
from tests.support import builders
from tests.support.postgres import ThrowawayPostgres

pytestmark = pytest.mark.outage
WRITERS = 6
RECOVERY_SECONDS = 15


class Load:
    """Writers that PUT new Practitioners, one after the other, until told to stop."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.statuses: Counter[int] = Counter()
        self.acknowledged: list[str] = []
        self.refusals: list[httpx.Response] = []
        self.stop = asyncio.Event()

    async def writer(self, number: int) -> None:
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            practitioner_id = f"w{number}-{attempt}"
            hsa = f"SE2321000198-W{number:02d}{attempt:05d}"
            body = dict(builders.practitioner(hsa=hsa), id=practitioner_id)
            answer = await self.client.put(f"/fhir/Practitioner/{practitioner_id}", json=body, headers=self.headers)
            self.statuses[answer.status_code] += 1
            if answer.is_success:
                self.acknowledged.append(practitioner_id)
            else:
                self.refusals.append(answer)
                await asyncio.sleep(0.05)

    async def reader(self) -> None:
        while not self.stop.is_set():
            answer = await self.client.get("/fhir/Practitioner", params={"_count": "5"}, headers=self.headers)
            self.statuses[answer.status_code] += 1
            if not answer.is_success:
                self.refusals.append(answer)
                await asyncio.sleep(0.05)

    async def until_a_write_succeeds(self) -> None:
        acknowledged = len(self.acknowledged)
        deadline = time.monotonic() + RECOVERY_SECONDS
        while len(self.acknowledged) == acknowledged:
            assert time.monotonic() < deadline, "the service did not recover"
            await asyncio.sleep(0.05)


async def test_writes_under_load_while_postgresql_stops_and_starts(
    private_postgres: ThrowawayPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    key: SigningKey = rsa_key()
    settings = Settings(
        database_url=private_postgres.url,
        auth="jwt",
        auth_issuers=[TrustedIssuer(issuer=ISSUER, jwks=str(write_jwks(tmp_path / "jwks.json", key)))],
        auth_audience=[AUDIENCE],
        outbox_worker="inprocess",  # the notification worker polls the outbox through the outage too
        outbox_poll_seconds=0.2,
        rate_limit_per_second=0,
        audit_flush_seconds=0.2,
        db_pool_size=8,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=60) as client,
    ):
        load = Load(client, admin(key))
        tasks = [asyncio.create_task(load.writer(n)) for n in range(WRITERS)]
        tasks.append(asyncio.create_task(load.reader()))
        await load.until_a_write_succeeds()
        for mode in ("fast", "immediate"):
            await asyncio.sleep(1.5)  # the service is seen to work again (a fault ends after a quiet second)
            await asyncio.to_thread(private_postgres.stop_server, mode)
            await asyncio.sleep(1.5)  # the clients keep writing into the outage
            assert (await client.get("/readyz")).status_code == 503
            await asyncio.to_thread(private_postgres.start_server)
            await load.until_a_write_succeeds()
        await asyncio.sleep(0.5)
        load.stop.set()
        await asyncio.gather(*tasks)

        assert set(load.statuses) <= {200, 201, 503}, load.statuses
        assert load.statuses[503] > 0, "the outage was never seen"
        for refusal in load.refusals:
            assert refusal.headers["Retry-After"].isdigit()
            outcome = refusal.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["code"] == "transient"
        assert (await client.get("/readyz")).status_code == 200
        for practitioner_id in load.acknowledged:  # read back through the service, recovered
            answer = await client.get(f"/fhir/Practitioner/{practitioner_id}", headers=admin(key))
            assert answer.status_code == 200, practitioner_id

    # The access log (written at shutdown at the latest) holds every acknowledged write.
    connection = await asyncpg.connect(private_postgres.url)
    try:
        rows = await connection.fetch("SELECT content FROM resources WHERE res_type = 'AuditEvent'")
    finally:
        await connection.close()
    logged = b"\n".join(bytes(row["content"]) for row in rows)
    missing = [pid for pid in load.acknowledged if f"Practitioner/{pid}".encode() not in logged]
    assert not missing, f"{len(missing)} acknowledged writes are not in the access log: {missing[:5]}"

    ours = [record for record in caplog.records if record.name.startswith("fhirbridge")]
    assert not [record for record in ours if record.exc_info], "a traceback was logged"
    began = [record for record in ours if "is not available:" in record.getMessage()]
    ended = [record for record in ours if "is available again" in record.getMessage()]
    assert 2 <= len(began) <= 4, [record.getMessage() for record in began]
    assert len(ended) == len(began)

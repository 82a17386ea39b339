"""An export job's life across cancels and restarts (export.html#bulk-data-delete-request): a
cancelled job and its files are gone; a job an instance left running is resumed by the next,
written from the start; one interrupted too often fails with an OperationOutcome."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI

from fhirbridge.export import jobs
from fhirbridge.export.plan import ExportPlan
from fhirbridge.fhir.instants import now_us
from tests.export.conftest import download, export, finished, ids, kick_off
from tests.security.callers import admin, admin_post
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support import builders
from tests.support.api import outcome


async def test_a_cancelled_export_and_its_files_are_gone(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, export_dir: Path
) -> None:
    region = admin(rsa)
    status_url = await kick_off(anyone, region)
    manifest = await finished(anyone, status_url, region)
    job_id = status_url.rsplit("/", 1)[1]
    assert any((export_dir / job_id).iterdir())
    cancelled = await anyone.delete(status_url, headers=region)
    assert cancelled.status_code == 202
    assert not (export_dir / job_id).exists()
    outcome(await anyone.get(status_url, headers=region), 404)
    outcome(await anyone.get(manifest["output"][0]["url"], headers=region), 404)
    outcome(await anyone.delete(status_url, headers=region), 404)


async def _caller(client: httpx.AsyncClient, app: FastAPI, headers: dict[str, str]) -> str:
    """The caller as a job keeps it, from a job the caller kicked off."""
    status_url = await kick_off(client, headers, _type="Appointment")
    await finished(client, status_url, headers)
    async with app.state.context.repository.database.reader() as conn:
        job = await jobs.find(conn, status_url.rsplit("/", 1)[1])
    assert job is not None
    return job.caller


async def _left_running(app: FastAPI, caller: str, *, attempts: int) -> str:
    """A job as an instance that stopped mid-export leaves it: running, its lease run out."""
    database = app.state.context.repository.database
    async with database.transaction() as conn:
        job_id = await jobs.kick_off(
            conn,
            caller=caller,
            request="http://fhirbridge.test/fhir/$export",
            plan=ExportPlan("system", ("Patient", "Goal")),
            now=now_us(),
        )
        await conn.execute(
            "UPDATE export_jobs SET status = 'running', lease_until = $1, attempts = $2 WHERE id = $3",
            now_us() - 1,
            attempts,
            job_id,
        )
    return job_id


async def test_a_job_left_running_by_a_stopped_instance_is_resumed_whole(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, rsa: SigningKey, export_dir: Path
) -> None:
    region = admin(rsa)
    job_id = await _left_running(secure_app, await _caller(anyone, secure_app, region), attempts=1)
    half = export_dir / job_id / "Patient.ndjson.part"
    half.parent.mkdir(parents=True)
    half.write_text('{"resourceType": "Patient", "id": "half"}\n')
    secure_app.state.context.exports.nudge()  # what the next instance's worker does on its own
    manifest = await finished(anyone, f"http://fhirbridge.test/fhir/$export-status/{job_id}", region)
    found = await download(anyone, manifest, region)
    assert ids(found, "Patient") == {world["anna"], world["bertil"]}
    assert sorted(p.name for p in (export_dir / job_id).iterdir()) == ["Goal.ndjson", "Patient.ndjson"]


async def test_a_job_interrupted_too_often_fails_with_an_outcome(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, rsa: SigningKey
) -> None:
    region = admin(rsa)
    caller = await _caller(anyone, secure_app, region)
    job_id = await _left_running(secure_app, caller, attempts=jobs.MOST_ATTEMPTS)
    secure_app.state.context.exports.nudge()
    status_url = f"http://fhirbridge.test/fhir/$export-status/{job_id}"
    for _ in range(200):
        response = await anyone.get(status_url, headers=region)
        if response.status_code != 202:
            break
        await asyncio.sleep(0.02)
    body = outcome(response, 500)
    assert "interrupted" in body["issue"][0]["diagnostics"]


async def test_what_changes_after_the_transaction_time_waits_for_the_next_export(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, rsa: SigningKey
) -> None:
    region = admin(rsa)
    caller = await _caller(anyone, secure_app, region)
    async with secure_app.state.context.repository.database.transaction() as conn:  # kicked off, not yet run
        job_id = await jobs.kick_off(
            conn,
            caller=caller,
            request="http://fhirbridge.test/fhir/$export?_type=Patient",
            plan=ExportPlan("system", ("Patient",)),
            now=now_us(),
        )
    await asyncio.sleep(0.002)
    later = await admin_post(anyone, rsa, builders.patient(family="Efteråt"))
    secure_app.state.context.exports.nudge()
    manifest = await finished(anyone, f"http://fhirbridge.test/fhir/$export-status/{job_id}", region)
    assert ids(await download(anyone, manifest, region), "Patient") == {world["anna"], world["bertil"]}
    following = await export(anyone, region, _type="Patient", _since=manifest["transactionTime"])
    assert ids(following, "Patient") == {later["id"]}

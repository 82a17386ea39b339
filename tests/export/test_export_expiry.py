"""An export's files expire (Bulk Data 2.0 export.html#response---complete-status): the manifest
says when in ``Expires``; from then on the status, cancel and file requests answer 404 with an
OperationOutcome, as for an unknown job; the worker deletes the files and the job
``DOWNLOAD_GRACE`` later, never before, and leaves a job still within its time alone.  The
worker's clock is moved by hand."""

from __future__ import annotations

import asyncio
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
from fastapi import FastAPI

from fhirbridge.export import jobs
from fhirbridge.export.worker import ExportWorker
from tests.export.conftest import download, finished, kick_off, stored_jobs
from tests.notifications.receiver import Clock
from tests.security.callers import admin
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support.api import outcome

HOUR = 3600 * jobs.SECOND
KEEP = 24 * HOUR  # FHIRBRIDGE_EXPORT_KEEP_HOURS' default


def _worker(app: FastAPI, clock: Clock) -> ExportWorker:
    worker: ExportWorker = app.state.context.exports
    worker.clock = clock
    return worker


async def _finished_job(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, str, list[str]]:
    """A finished system export of Patients and Goals: its status URL, id and file URLs."""
    status_url = await kick_off(client, headers, _type="Patient,Goal")
    manifest = await finished(client, status_url, headers)
    return status_url, status_url.rsplit("/", 1)[1], [output["url"] for output in manifest["output"]]


async def test_an_export_answers_until_it_expires_then_404_and_its_files_go_after_the_grace(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, rsa: SigningKey, export_dir: Path
) -> None:
    region = admin(rsa)
    clock = Clock()
    worker = _worker(secure_app, clock)
    ended = clock.now
    status_url, job_id, file_urls = await _finished_job(anyone, region)
    status = await anyone.get(status_url, headers=region)
    assert status.status_code == 200
    expires = ended + KEEP
    assert parsedate_to_datetime(status.headers["expires"]).timestamp() == expires // jobs.SECOND

    clock.now = expires - 1  # the last moment: everything answers
    assert (await anyone.get(status_url, headers=region)).status_code == 200
    found = await download(anyone, (await anyone.get(status_url, headers=region)).json(), region)
    assert {patient["id"] for patient in found["Patient"]} == {world["anna"], world["bertil"]}

    clock.now = expires  # expired: as if the job had never been
    body = outcome(await anyone.get(status_url, headers=region), 404)
    assert "expired" in body["issue"][0]["diagnostics"]
    for url in file_urls:
        outcome(await anyone.get(url, headers=region), 404)
    outcome(await anyone.delete(status_url, headers=region), 404)

    clock.now = expires + jobs.DOWNLOAD_GRACE - 1  # a download begun before the expiry may still run
    assert await worker.purge_expired() == 0
    assert sorted(path.name for path in (export_dir / job_id).iterdir()) == ["Goal.ndjson", "Patient.ndjson"]
    assert await stored_jobs(secure_app) == 1

    clock.now = expires + jobs.DOWNLOAD_GRACE
    assert await worker.purge_expired() == 1
    assert not (export_dir / job_id).exists()
    assert await stored_jobs(secure_app) == 0
    body = outcome(await anyone.get(status_url, headers=region), 404)
    assert "No export job" in body["issue"][0]["diagnostics"]


async def test_the_service_purges_expired_exports_on_its_own_and_keeps_those_within_their_time(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, rsa: SigningKey, export_dir: Path
) -> None:
    region = admin(rsa)
    clock = Clock()
    _worker(secure_app, clock)
    started = clock.now
    old_url, old_id, _ = await _finished_job(anyone, region)
    clock.now = started + 12 * HOUR
    new_url, _, new_files = await _finished_job(anyone, region)

    clock.now = started + KEEP + jobs.DOWNLOAD_GRACE  # the first is gone, the second has 12 hours left
    secure_app.state.context.exports.nudge()  # the worker's round, as its timer would start it
    for _ in range(200):
        if not (export_dir / old_id).exists() and await stored_jobs(secure_app) == 1:
            break
        await asyncio.sleep(0.02)
    assert not (export_dir / old_id).exists()
    assert await stored_jobs(secure_app) == 1
    outcome(await anyone.get(old_url, headers=region), 404)
    assert (await anyone.get(new_url, headers=region)).status_code == 200
    for url in new_files:
        assert (await anyone.get(url, headers=region)).status_code == 200

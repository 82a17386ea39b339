"""Bulk Data 2.0 status, cancel and file requests
(https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-status-request):

* ``GET [base]/$export-status/[job]``: 202 with ``X-Progress`` and ``Retry-After`` while the job
  runs; 200 with the manifest (``application/json``: ``transactionTime``, ``request``,
  ``requiresAccessToken``, ``output`` [{type, url, count}], ``error``) when it is done; an
  OperationOutcome when it failed.
* ``DELETE [base]/$export-status/[job]``: 202; the job and its files are gone (a running job
  stops at its next page), and its status URL answers 404 from then on.
* ``GET [base]/$export-file/[job]/[type].ndjson``: one file, ``application/fhir+ndjson``,
  streamed from disk (``requiresAccessToken``: true).

Each answers only the caller who kicked the job off (the same client, person, unit and scopes,
:func:`fhirbridge.export.caller.same_caller`); to anyone else the job does not exist (404), so
that a job id tells nothing.  Every request is authenticated and audited like the FHIR routes.

A finished job expires ``FHIRBRIDGE_EXPORT_KEEP_HOURS`` after it ended: the manifest says when
in its ``Expires`` header (export.html#response---complete-status), and from then on the status,
cancel and file requests answer 404 with an OperationOutcome, as for a job never kicked off
(export.html#response---error-status); the worker deletes the files a while later
(:data:`fhirbridge.export.jobs.DOWNLOAD_GRACE`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from fhirbridge.errors import FhirError, Issue, not_found
from fhirbridge.export import files, jobs
from fhirbridge.export.caller import same_caller
from fhirbridge.export.jobs import Job
from fhirbridge.fhir.instants import format_instant, now_us
from fhirbridge.identity import Identity
from fhirbridge.rest.audited import audited_call
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.operations.export import STATUS_PATH

FILE_PATH = "$export-file"
RETRY_AFTER_SECONDS = 2
Base = Callable[[Request], str]


async def _own_job(context: ServiceContext, identity: Identity, job_id: str) -> Job:
    async with context.repository.database.reader() as conn:
        job = await jobs.find(conn, job_id[:64])
    if job is None or not same_caller(identity, job.caller):
        raise not_found("No export job lives at this address")
    now = context.exports.clock() if context.exports is not None else now_us()
    if job.expired(now):
        raise not_found("This export has expired and its files are deleted; kick off a new one")
    return job


def manifest(job: Job, base: str) -> dict[str, object]:
    """The complete-status body (export.html#response---complete-status)."""
    return {
        "transactionTime": format_instant(job.transaction_time),
        "request": job.request,
        "requiresAccessToken": True,
        "output": [
            {"type": resource_type, "url": f"{base}/{FILE_PATH}/{job.id}/{name}", "count": count}
            for resource_type, name, count in job.outputs
        ],
        "error": [],
    }


def mount_export(app: FastAPI, prefix: str, base_of: Base) -> None:
    """Register the status, cancel and file endpoints under ``prefix`` (before the FHIR routes,
    whose ``/{type}/{id}`` would take them)."""

    async def status(request: Request) -> Response:
        context: ServiceContext = request.app.state.context
        async with audited_call(request, base_of(request), interaction="operation", operation="export-status") as call:
            job = await _own_job(context, call.identity, request.path_params["job"])
            response = _status_answer(job, base_of(request))
            call.status = response.status_code
            return response

    async def cancel(request: Request) -> Response:
        context: ServiceContext = request.app.state.context
        async with audited_call(request, base_of(request), interaction="operation", operation="export-cancel") as call:
            job = await _own_job(context, call.identity, request.path_params["job"])
            async with context.repository.database.transaction() as conn:
                await jobs.cancel(conn, job.id)
            files.remove(Path(context.settings.export_dir), job.id)
            call.status = 202
            return Response(status_code=202)

    async def download(request: Request) -> Response:
        context: ServiceContext = request.app.state.context
        async with audited_call(request, base_of(request), interaction="operation", operation="export-file") as call:
            job = await _own_job(context, call.identity, request.path_params["job"])
            name = request.path_params["name"]
            path = files.output_file(Path(context.settings.export_dir), job.id, name)
            if job.status != "done" or name not in {output[1] for output in job.outputs} or not path.is_file():
                raise not_found("No export file lives at this address")
            call.status = 200
            return FileResponse(path, media_type="application/fhir+ndjson")

    routes: tuple[tuple[str, str, Callable[[Request], Awaitable[Response]]], ...] = (
        ("GET", f"/{STATUS_PATH}/{{job}}", status),
        ("DELETE", f"/{STATUS_PATH}/{{job}}", cancel),
        ("GET", f"/{FILE_PATH}/{{job}}/{{name}}", download),
    )
    for method, path, endpoint in routes:
        app.add_api_route(prefix + path, endpoint, methods=[method], include_in_schema=False)


def _status_answer(job: Job, base: str) -> Response:
    if job.status in ("queued", "running"):
        progress = job.progress or ("queued" if job.status == "queued" else "started")
        return Response(status_code=202, headers={"X-Progress": progress, "Retry-After": str(RETRY_AFTER_SECONDS)})
    if job.status == "failed":
        raise FhirError(500, [Issue("error", "exception", f"The export failed: {job.error}")])
    headers = {"Cache-Control": "no-store"}
    if job.expires is not None:
        headers["Expires"] = formatdate(job.expires / jobs.SECOND, usegmt=True)
    body = json.dumps(manifest(job, base)).encode()
    return Response(body, status_code=200, media_type="application/json", headers=headers)

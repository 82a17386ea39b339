"""Bulk Data 2.0 kick-off: ``GET [base]/$export``, ``GET [base]/Patient/$export`` and
``GET [base]/Group/[id]/$export``
(https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-kick-off-request).

The kick-off needs ``Prefer: respond-async``; its parameters are checked
(:func:`fhirbridge.export.plan.parse_plan`) and the caller's scopes and searches judged before a
job is stored, so that a refused kick-off stores nothing.  The answer is a 202 whose
``Content-Location`` is the job's status URL (:mod:`fhirbridge.rest.export_status`).

Who may export: a system token (the region's integration: everything; a unit's system: what
the unit may read) and a user (what they may read), each only the types its scopes allow to
read.  A patient's token (or a relative's) is refused with a 403: a patient reads their own
records through search and ``$everything``-like reads, and an asynchronous copy of a
compartment would outlive the consent and care relations the policy judges at each read.

A Group export (export.html#endpoint---group-of-patients) reads the Group as the caller, at
kick-off: one the caller may not read is a 404, as its read would be (only the region's services
read Groups, :data:`fhirbridge.access.policy.READ_BY_SERVICES`).  Its members are the Patients
its ``member.entity`` names as ``Patient/[id]`` (the form the write path stores every patient
reference in) and not ``inactive``; any other entity (a contained Patient, a reference the write
path could not place) adds no one.  The members' compartments are then read through the access
layer like a Patient export's, so a Group never widens what its caller may read.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from fhirbridge.access.policy import forbidden
from fhirbridge.errors import FhirError, bad_request, not_found
from fhirbridge.export import jobs
from fhirbridge.export.caller import to_text
from fhirbridge.export.plan import ExportPlan, Level, parse_plan, type_query
from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.identity import Identity
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse

NAME = "export"
SYSTEM_DEFINITION = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
PATIENT_DEFINITION = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
GROUP_DEFINITION = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
STATUS_PATH = "$export-status"


async def kick_off(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """Check the kick-off, store the job, wake the worker; 202 with the status URL."""
    kind = request.resource_type
    level: Level = "group" if kind == "Group" else "patient" if kind == "Patient" else "system"
    prefer = [part.strip().lower() for part in (request.headers.get("prefer") or "").split(",")]
    if "respond-async" not in prefer:
        raise bad_request("$export runs asynchronously: send Prefer: respond-async", "Prefer")
    identity = request.identity
    if identity.kind == "patient":
        raise forbidden("A patient's token cannot start a bulk export; read your records by search")
    now = now_us()
    plan = parse_plan(level, request.query, now=now)
    if level == "group":
        group = request.resource_id or ""
        plan = dataclasses.replace(plan, group=group, members=await _members(ctx, identity, group))
    plan = await _within_scopes(ctx, request, plan)
    for resource_type in plan.types:  # a search the policy refuses (a chain it forbids) is refused now
        await ctx.repository.policy.restrict(identity, type_query(plan, resource_type))
    async with ctx.repository.database.transaction() as conn:
        job_id = await jobs.kick_off(
            conn, caller=to_text(identity), request=_request_url(request, level), plan=plan, now=now
        )
    if ctx.exports is not None:
        ctx.exports.nudge()
    return FhirResponse(202, headers={"Content-Location": f"{request.base_url}/{STATUS_PATH}/{job_id}"})


async def _within_scopes(ctx: ServiceContext, request: FhirRequest, plan: ExportPlan) -> ExportPlan:
    """The plan's types the caller's scopes let them read: every one named by ``_type`` (a 403
    otherwise), those allowed of the default types (a 403 when none is)."""
    named = request.query_value("_type") is not None
    allowed = []
    for resource_type in plan.types:
        try:
            ctx.repository.policy.require_scope(request.identity, resource_type, "r")
        except FhirError:
            if named:
                raise
            continue
        allowed.append(resource_type)
    if not allowed:
        raise forbidden("The access token's scopes allow reading none of the types this export holds")
    return dataclasses.replace(plan, types=tuple(allowed))


async def _members(ctx: ServiceContext, identity: Identity, group_id: str) -> tuple[str, ...]:
    """The ids of the Group's active member Patients, read as the caller; a 404 when the caller
    may not read the Group (or it does not exist, or is deleted)."""
    record = await ctx.repository.read(identity, "Group", group_id)
    if record is None or record.content is None:
        raise not_found(f"Group/{group_id} is not known")
    group: dict[str, Any] = loads(record.content)
    members = []
    for member in group.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        entity = member.get("entity")
        text = entity.get("reference") if isinstance(entity, dict) else None
        parsed = parse_reference(text) if isinstance(text, str) else None
        if parsed is not None and parsed.kind == "local" and parsed.resource_type == "Patient" and parsed.resource_id:
            members.append(parsed.resource_id)
    return tuple(dict.fromkeys(members))


def _request_url(request: FhirRequest, level: Level) -> str:
    path = {"patient": "Patient/$export", "group": f"Group/{request.resource_id}/$export"}.get(level, "$export")
    query = urlencode(request.query)
    return f"{request.base_url}/{path}" + (f"?{query}" if query else "")

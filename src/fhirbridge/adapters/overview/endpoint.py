"""``GET /overview/{patient id}``: the patient's overview, HTML by default, JSON for
``Accept: application/json`` (an app).  It reads through the repository with the caller's
identity (the patient's own token, a relative's, or a 1177 backend's), so the access policy
decides what it shows: another patient's overview does not exist for a patient token, and
plans not approved for the patient are left out."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from fhirbridge.adapters.npo.common import fhir_base, local_time
from fhirbridge.adapters.overview.model import overview
from fhirbridge.adapters.overview.page import render
from fhirbridge.adapters.registry import Adapter, caller, mapping
from fhirbridge.contract.care_contacts import care_contacts
from fhirbridge.contract.care_network import load_care_network, load_plans
from fhirbridge.contract.codes import is_contract
from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import is_valid_id
from fhirbridge.patients.survivors import surviving_patient
from fhirbridge.search.query import parse_query

PATH = "/overview/{patient_id}"


async def endpoint(request: Request) -> Response:
    ctx = request.app.state.context
    wants_json = "application/json" in request.headers.get("accept", "")
    patient_id = request.path_params["patient_id"]
    record = await ctx.repository.read(caller(request), "Patient", patient_id) if is_valid_id(patient_id) else None
    if record is None or record.deleted or record.content is None:
        message = "Det finns ingen sådan patient."
        if wants_json:
            return JSONResponse({"error": message}, status_code=404)
        return HTMLResponse(
            f'<!DOCTYPE html><html lang="sv"><title>Saknas</title><main><p>{message}</p></main></html>', 404
        )
    survivor = await surviving_patient(ctx.repository, patient_id)  # a merged record shows its person's plans
    if survivor != patient_id:
        patient_id, record = survivor, await ctx.repository.read(caller(request), "Patient", survivor) or record
    base = fhir_base(request)
    limit = ctx.settings.max_page_size
    plans, resolved = await load_plans(ctx.repository, caller(request), patient_id, base, limit)
    network = await load_care_network(ctx.repository, caller(request), patient_id, base, limit)
    contacts = care_contacts(network.teams, network.resolved, now_us())
    revisions = {str(p.get("id")): await _last_revision(request, p) for p in plans if is_contract(p)}
    result = overview(loads(record.content), plans, {**network.resolved, **resolved}, contacts, revisions)
    if wants_json:
        return Response(json.dumps(result.to_json(), ensure_ascii=False), media_type="application/json")
    return HTMLResponse(render(result, mapping("overview")))


async def _last_revision(request: Request, plan: dict[str, Any]) -> tuple[str | None, str | None]:
    ctx = request.app.state.context
    when = local_time((plan.get("meta") or {}).get("lastUpdated"))
    day = f"{when[:4]}-{when[4:6]}-{when[6:8]}"
    query = parse_query(
        "Provenance",
        [("target", f"CarePlan/{plan.get('id')}"), ("_sort", "-_lastUpdated"), ("_count", "1")],
        strict=True,
        default_count=1,
        max_count=1,
    )
    page = await ctx.repository.search(caller(request), query, fhir_base(request))
    if not page.matches:
        return day, None
    agent = (loads(page.matches[0].content or b"{}").get("agent") or [{}])[0]
    who = (agent.get("who") or {}).get("display")
    unit = (agent.get("onBehalfOf") or {}).get("display")
    by = ", ".join(part for part in (who, unit) if part) or None
    return day, by


ADAPTER = Adapter(name="overview-1177", mapping="overview", routes=(("GET", PATH, endpoint),), reads="CarePlan")

"""``GET /overview/{patient id}``: the patient's overview, HTML for a browser, JSON for an app
(``Accept: application/json`` or ``application/fhir+json``, or ``_format=json``).  It reads
through the repository with the caller's identity (the patient's own token, a relative's, or a
1177 backend's), so the access policy decides what it shows: another patient's overview does
not exist for a patient token, and plans not approved for the patient are left out.

Errors (401, 403, 404, 406) answer in the same kind: an OperationOutcome for an app, a plain
page in Swedish for a browser."""

from __future__ import annotations

import json
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fhirbridge.adapters.npo.common import fhir_base, local_time
from fhirbridge.adapters.overview.model import overview
from fhirbridge.adapters.overview.page import error_page, render
from fhirbridge.adapters.registry import Adapter, caller, mapping
from fhirbridge.contract.care_contacts import care_contacts
from fhirbridge.contract.care_network import load_care_network, load_plans
from fhirbridge.contract.codes import is_contract
from fhirbridge.errors import FhirError, not_acceptable, not_found
from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import is_valid_id
from fhirbridge.patients.survivors import surviving_patient
from fhirbridge.rest.negotiation import JSON_TYPES, media_ranges
from fhirbridge.rest.render import error_format, render_error
from fhirbridge.search.query import parse_query

PATH = "/overview/{patient_id}"
Kind = Literal["json", "html"]
_FORMATS: dict[str, Kind] = {"json": "json", "html": "html", "text/html": "html"}
_FORMATS.update(dict.fromkeys(JSON_TYPES, "json"))
_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/*", "*/*"})


def answer_kind(request: Request) -> Kind:
    """JSON or the page, by ``_format`` or else ``Accept`` (the page when it names neither
    kind but accepts anything); a 406 for a caller that accepts neither."""
    requested = request.query_params.get("_format")
    if requested is not None:
        kind = _FORMATS.get(requested.split(";")[0].strip().lower())
        if kind is None:
            raise not_acceptable(f"_format={requested} is not available: the overview is html or json")
        return kind
    accept = request.headers.get("accept")
    if not accept:
        return "html"
    for media_type, quality, _ in media_ranges(accept):
        if quality > 0 and media_type in JSON_TYPES:
            return "json"
        if quality > 0 and media_type in _PAGE_TYPES:
            return "html"
    raise not_acceptable(f"None of {accept!r} is available: the overview is text/html or application/json")


def refusal(request: Request, error: FhirError) -> Response:
    """An error in the kind the caller asked for; an OperationOutcome when that is unclear."""
    try:
        kind = answer_kind(request)
    except FhirError:
        kind = "json"
    if kind == "json":
        return render_error(error, error_format(request))
    return HTMLResponse(error_page(error.status, mapping("overview")), error.status, headers=error.headers)


async def endpoint(request: Request) -> Response:
    kind = answer_kind(request)
    ctx = request.app.state.context
    patient_id = request.path_params["patient_id"]
    record = await ctx.repository.read(caller(request), "Patient", patient_id) if is_valid_id(patient_id) else None
    if record is None or record.deleted or record.content is None:
        raise not_found(f"Patient/{patient_id} does not exist")
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
    if kind == "json":
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


ADAPTER = Adapter(
    name="overview-1177", mapping="overview", routes=(("GET", PATH, endpoint),), reads="CarePlan", refusal=refusal
)

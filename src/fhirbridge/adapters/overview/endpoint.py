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

from fhirbridge.adapters.adapter import Adapter, caller
from fhirbridge.adapters.mappings import mapping
from fhirbridge.adapters.npo.common import fhir_base
from fhirbridge.adapters.overview.model import SEVEN_QUESTIONS, Revision, Sources, overview, visible_to_patient
from fhirbridge.adapters.overview.page import error_page, render
from fhirbridge.adapters.overview.texts import Texts, choose_language
from fhirbridge.contract.care_contacts import care_contacts
from fhirbridge.contract.care_network import load_care_network, load_plans, resolve, search_contents, unversioned
from fhirbridge.contract.codes import is_contract
from fhirbridge.contract.people import display_name
from fhirbridge.errors import FhirError, not_acceptable, not_found
from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import is_valid_id
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.patients.survivors import surviving_patient
from fhirbridge.rest.negotiation import JSON_TYPES, media_ranges
from fhirbridge.rest.render import error_format, render_error

PATH = "/overview/{patient_id}"
Kind = Literal["json", "html"]
_FORMATS: dict[str, Kind] = {"json": "json", "html": "html", "text/html": "html"}
_FORMATS.update(dict.fromkeys(JSON_TYPES, "json"))
_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/*", "*/*"})
PLACES_AND_PEOPLE = frozenset({"Location", "RelatedPerson"}) & frozenset(STORED_TYPES)
"""Read for the page besides roles and units (a Location only where the server stores them)."""
REVISIONS_READ = 20
"""How many of a contract's latest Provenances are looked through for the last unit that revised it."""


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
    texts = reader_texts(request)
    headers = {**(error.headers or {}), **_language_headers(texts)}
    return HTMLResponse(error_page(error.status, texts), error.status, headers=headers)


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
    resolved.update(network.resolved)
    # only what the page shows (a declined offer is revoked): no revisions or visits looked up for the rest
    contracts = [p for p in plans if is_contract(p) and visible_to_patient(p)]
    now = now_us()
    sources = Sources(
        resolved=resolved,
        contacts=care_contacts(network.teams, network.resolved, now),
        teams=network.teams,
        revisions={str(p.get("id")): await _last_revision(request, p, resolved, patient_id) for p in contracts},
        appointments=await _appointments(request, contracts, resolved),
        now_us=now,
        messages=await _patients(request, "Communication", [("subject", f"Patient/{patient_id}")]),
        answers=await _patients(
            request, "QuestionnaireResponse", [("subject", f"Patient/{patient_id}"), ("questionnaire", SEVEN_QUESTIONS)]
        ),
    )
    senders = [str((m.get("sender") or {}).get("reference")) for m in sources.messages]
    await _read_people_and_places(request, _goal_authors(resolved) + senders, resolved)
    result = overview(loads(record.content), plans, sources)
    if kind == "json":
        return Response(json.dumps(result.to_json(), ensure_ascii=False), media_type="application/json")
    texts = reader_texts(request)
    return HTMLResponse(render(result, texts), headers=_language_headers(texts))


def reader_texts(request: Request) -> Texts:
    """The mapping table in the language the reader asked for (``?lang=``, else ``Accept-Language``)."""
    table = mapping("overview")
    language = choose_language(
        request.query_params.get("lang"), request.headers.get("accept-language"), table["languages"]
    )
    return Texts(table, language)


def _language_headers(texts: Texts) -> dict[str, str]:
    return {"Content-Language": texts.language, "Vary": "Accept, Accept-Language"}


async def _patients(request: Request, resource_type: str, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """What the caller may read of the patient's resources of one type (the newest first)."""
    ctx = request.app.state.context
    found, _ = await search_contents(
        ctx.repository,
        caller(request),
        resource_type,
        [*pairs, ("_sort", "-_lastUpdated")],
        fhir_base(request),
        ctx.settings.max_page_size,
    )
    return found


async def _appointments(
    request: Request, contracts: list[dict[str, Any]], resolved: dict[str, dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Each contract's Appointments: those whose ``supportingInformation`` names it, and those its
    activities point at; with the roles, units and Locations they name read into ``resolved``."""
    ctx = request.app.state.context
    found: dict[str, list[dict[str, Any]]] = {str(c.get("id")): [] for c in contracts}
    if not contracts:
        return found
    targets = ",".join(f"CarePlan/{c.get('id')}" for c in contracts)
    limit = ctx.settings.max_page_size
    linked, _ = await search_contents(
        ctx.repository, caller(request), "Appointment", [("supporting-info", targets)], fhir_base(request), limit
    )
    for appointment in linked:
        for info in appointment.get("supportingInformation", []):
            contract_id = unversioned(str(info.get("reference"))).removeprefix("CarePlan/")
            if contract_id in found and appointment not in found[contract_id]:
                found[contract_id].append(appointment)
    for contract in contracts:
        for activity in contract.get("activity", []):
            reference = unversioned(str((activity.get("reference") or {}).get("reference")))
            kind, _, appointment_id = reference.partition("/")
            if kind == "Appointment" and is_valid_id(appointment_id):
                read = await ctx.repository.read(caller(request), kind, appointment_id)
                if read is not None and not read.deleted and read.content is not None:
                    found[str(contract.get("id"))].append(loads(read.content))
    actors = [
        str((p.get("actor") or {}).get("reference"))
        for appointments in found.values()
        for appointment in appointments
        for p in appointment.get("participant", [])
    ]
    places = [
        str((a.get("detail") or {}).get("location", {}).get("reference"))
        for c in contracts
        for a in c.get("activity", [])
    ]
    await _read_people_and_places(request, actors + places, resolved)
    return found


async def _read_people_and_places(request: Request, references: list[str], resolved: dict[str, dict[str, Any]]) -> None:
    """Read into ``resolved`` the Locations and RelatedPersons named, and the roles, people and units."""
    ctx = request.app.state.context
    for reference in map(unversioned, references):
        kind, _, resource_id = reference.partition("/")
        if kind in PLACES_AND_PEOPLE and reference not in resolved and is_valid_id(resource_id):
            read = await ctx.repository.read(caller(request), kind, resource_id)
            if read is not None and not read.deleted and read.content is not None:
                resolved[reference] = loads(read.content)
    await resolve(ctx.repository, caller(request), references, resolved)


def _goal_authors(resolved: dict[str, dict[str, Any]]) -> list[str]:
    return [
        str((goal.get("expressedBy") or {}).get("reference"))
        for goal in resolved.values()
        if goal.get("resourceType") == "Goal"
    ]


async def _last_revision(
    request: Request, plan: dict[str, Any], resolved: dict[str, dict[str, Any]], patient_id: str
) -> Revision:
    """When the contract was last revised and by which unit: the latest Provenance (by ``recorded``)
    whose agent acts for a unit (``onBehalfOf``, or the Organization of a PractitionerRole ``who``);
    without one, ``meta.lastUpdated`` and no unit (a load or an unauthenticated write names none).
    Whether the patient is among its contributors (the revision accepted their proposal) too."""
    ctx = request.app.state.context
    provenances, _ = await search_contents(
        ctx.repository,
        caller(request),
        "Provenance",
        [("target", f"CarePlan/{plan.get('id')}"), ("_sort", "-recorded")],
        fhir_base(request),
        REVISIONS_READ,
    )
    for provenance in provenances:
        with_patient = any(
            (agent.get("who") or {}).get("reference") == f"Patient/{patient_id}"
            for agent in provenance.get("agent", [])
            if any(c.get("code") == "contributor" for c in (agent.get("type") or {}).get("coding", []))
        )
        for agent in provenance.get("agent", []):
            who, unit = agent.get("who") or {}, agent.get("onBehalfOf") or {}
            await resolve(
                ctx.repository, caller(request), [str(who.get("reference")), str(unit.get("reference"))], resolved
            )
            role = resolved.get(unversioned(str(who.get("reference")))) or {}
            organization = unversioned(str(unit.get("reference") or (role.get("organization") or {}).get("reference")))
            name = display_name(resolved.get(organization)) or unit.get("display")
            if name:
                return Revision(provenance.get("recorded"), str(name), with_patient)
    return Revision((plan.get("meta") or {}).get("lastUpdated"), None)


ADAPTER = Adapter(
    name="overview-1177", mapping="overview", routes=(("GET", PATH, endpoint),), reads="CarePlan", refusal=refusal
)

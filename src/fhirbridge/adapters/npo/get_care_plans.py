"""NPÖ: GetCarePlans 2.0, the patient's contracts and other plans (RIV-TA, DOMAIN.md).

``POST /riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21`` answers the national
platform (SOAP 1.1, RIVTABP21) with one ``carePlan`` per CarePlan of the patient: the contract
and each linked plan (SIP and others).  Following Inera's draft FHIR mapping: documentId is the
CarePlan's identifier, the accountable professional its author, documentTime its creation,
documentTitle its title, the participating care units its contributors, and
``approvedForPatient`` is false for a plan labelled ``NOPATIENT`` (v3-ActCode) in
``meta.security``.  Revoked and entered-in-error plans are ``nullified``.  The body holds the
plan as readable HTML (:mod:`.care_plan_html`); a contract's body names its linked plans (the
SIP, a COPD care plan), each answered as a plan of its own in the same response (issue 15.3).
Codes, choices (which typeOfCarePlan a contract gets) and texts come from ``mappings/npo.json``.

Bad requests (a malformed patient id, an unknown OID, bad dates) get the contract's own answer:
``result`` with ``ERROR`` / ``INVALID_REQUEST`` and a message; a request that is not even the
contract's SOAP message gets a SOAP fault.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

from fhirbridge.adapters.adapter import caller
from fhirbridge.adapters.mappings import mapping
from fhirbridge.adapters.npo.care_plan_html import render
from fhirbridge.adapters.npo.common import (
    InvalidRequest,
    check_logical_address,
    fhir_base,
    find_patient,
    hsa_id,
    local_time,
    person_system,
    riv_date,
    sub,
    valid_date,
    valid_time,
)
from fhirbridge.adapters.riv.soap import SoapFault, envelope, fault, read_request, soap_endpoint, xml_response
from fhirbridge.adapters.riv.wsdl import rivta_adapter
from fhirbridge.contract.care_network import load_plans
from fhirbridge.contract.codes import PLAN_TYPE_SYSTEM, PLAN_TYPES, is_contract, is_declined_offer
from fhirbridge.contract.linked_plans import linked_plan_ids
from fhirbridge.contract.people import display_name

PATH = "/riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21"
RESPONDER = "urn:riv:clinicalprocess:logistics:logistics:GetCarePlansResponder:2"
CORE = "urn:riv:clinicalprocess:logistics:logistics:3"
_R = f"{{{RESPONDER}}}"
_C = f"{{{CORE}}}"
MAX_PLANS = 1000
"""Care plans answered per patient (a patient has a handful)."""

Resources = dict[str, dict[str, Any]]


def care_plans_response(
    plans: list[dict[str, Any]], resolved: Resources, patient: tuple[str, str], table: dict[str, Any]
) -> etree._Element:
    """The GetCarePlansResponse (``patient`` = number, OID) with ``result`` OK."""
    response = etree.Element(f"{_R}GetCarePlansResponse", nsmap={None: RESPONDER, "core": CORE})
    answered = {f"CarePlan/{plan.get('id')}": plan for plan in plans}
    for plan in plans:
        response.append(_care_plan(plan, resolved, patient, table, answered))
    _result(response, "OK")
    return response


def error_response(message: str) -> etree._Element:
    response = etree.Element(f"{_R}GetCarePlansResponse", nsmap={None: RESPONDER, "core": CORE})
    _result(response, "ERROR", error_code="INVALID_REQUEST", message=message)
    return response


def _result(parent: etree._Element, code: str, *, error_code: str | None = None, message: str | None = None) -> None:
    result = sub(parent, f"{_R}result")
    sub(result, f"{_C}resultCode", code)
    if error_code:
        sub(result, f"{_C}errorCode", error_code)
    sub(result, f"{_C}logId", str(uuid.uuid4()))
    if message:
        sub(result, f"{_C}message", message)


def _care_plan(
    plan: dict[str, Any], resolved: Resources, patient: tuple[str, str], table: dict[str, Any], answered: Resources
) -> etree._Element:
    element = etree.Element(f"{_R}carePlan")
    header = sub(element, f"{_C}carePlanHeader")
    sub(header, f"{_C}documentId", document_id(plan))
    sub(header, f"{_C}sourceSystemHSAId", table["sourceSystemHSAId"])
    if plan.get("title"):
        sub(header, f"{_C}documentTitle", str(plan["title"]))
    written = plan.get("created") or (plan.get("meta") or {}).get("lastUpdated")
    document_time = valid_time(local_time(written))
    if document_time:  # optional: left out when the plan's date lies outside the contract's years
        sub(header, f"{_C}documentTime", document_time)
    person = sub(header, f"{_C}patientId")
    sub(person, f"{_C}id", patient[0])
    sub(person, f"{_C}type", patient[1])
    _accountable(header, plan, resolved)
    sub(header, f"{_C}approvedForPatient", "true" if approved_for_patient(plan, table) else "false")
    reason = table["nullifiedStatuses"].get(plan.get("status"))
    if reason:
        sub(header, f"{_C}nullified", "true")
        sub(header, f"{_C}nullifiedReason", reason)
    body = sub(element, f"{_C}carePlanBody")
    content = sub(body, f"{_C}content")
    sub(content, f"{_C}mediaType", "text/html")
    goals = [resolved[g["reference"]] for g in plan.get("goal", []) if str(g.get("reference")) in resolved]
    html = render(plan, goals, table["contractHeadings"], resolved, _linked(plan, answered))
    sub(content, f"{_C}value", base64.b64encode(html.encode("utf-8")).decode("ascii"))
    for unit in _contributing_units(plan, resolved):
        ii = sub(body, f"{_C}participatingCareUnitHSAId")
        sub(ii, f"{_C}root", table["oids"]["hsaId"])
        sub(ii, f"{_C}extension", unit)
    enum = table["typeOfCarePlan"].get(str(_plan_type(plan)))
    if enum:
        sub(body, f"{_C}typeOfCarePlanEnum", enum)
    return element


def document_id(plan: dict[str, Any]) -> str:
    """A plan's documentId: its first identifier's value (the SIP's own number from the
    municipality), else ``CarePlan/{id}``."""
    identifier = next((i for i in plan.get("identifier", []) if i.get("value")), None)
    return str(identifier["value"]) if identifier else f"CarePlan/{plan.get('id')}"


def _linked(plan: dict[str, Any], answered: Resources) -> list[str]:
    """The contract's linked plans (:mod:`fhirbridge.contract.linked_plans`) that the same answer
    returns, each by title, plan type and documentId, so a clinician finds it in the answer.  A
    linked plan the answer leaves out (not for the patient, outside the asked period) is not
    named either."""
    if not is_contract(plan):
        return []
    named = []
    for plan_id in linked_plan_ids(plan):
        other = answered.get(f"CarePlan/{plan_id}")
        if other is None:
            continue
        kind = _plan_type(other)
        what = PLAN_TYPES.get(str(kind), "Annan plan")
        named.append(f"{other.get('title') or what} ({what}, dokument-id {document_id(other)})")
    return named


def _plan_type(plan: dict[str, Any]) -> str | None:
    return next(
        (
            c.get("code")
            for cat in plan.get("category", [])
            for c in cat.get("coding", [])
            if c.get("system") == PLAN_TYPE_SYSTEM
        ),
        None,
    )


def _accountable(header: etree._Element, plan: dict[str, Any], resolved: Resources) -> None:
    professional = sub(header, f"{_C}accountableHealthcareProfessional")
    author_time = valid_time(local_time((plan.get("meta") or {}).get("lastUpdated")))
    sub(professional, f"{_C}authorTime", author_time or local_time(None))
    author = resolved.get(str((plan.get("author") or {}).get("reference")))
    person = author
    unit = None
    if author is not None and author.get("resourceType") == "PractitionerRole":
        person = resolved.get(str((author.get("practitioner") or {}).get("reference")))
        unit = resolved.get(str((author.get("organization") or {}).get("reference")))
    elif author is not None and author.get("resourceType") == "Organization":
        person, unit = None, author
    if person is not None and hsa_id(person):
        sub(professional, f"{_C}healthcareProfessionalHSAId", hsa_id(person))
    name = display_name(person) or (plan.get("author") or {}).get("display")
    if name:
        sub(professional, f"{_C}healthcareProfessionalName", str(name))
    if unit is not None:
        org = sub(professional, f"{_C}healthcareProfessionalOrgUnit")
        if hsa_id(unit):
            sub(org, f"{_C}orgUnitHSAId", hsa_id(unit))
        if unit.get("name"):
            sub(org, f"{_C}orgUnitName", str(unit["name"]))
        phone = next((t.get("value") for t in unit.get("telecom", []) if t.get("system") == "phone"), None)
        if phone:
            sub(org, f"{_C}orgUnitTelecom", str(phone))
        if hsa_id(unit):
            sub(professional, f"{_C}healthcareProfessionalCareUnitHSAId", hsa_id(unit))
        caregiver = resolved.get(str((unit.get("partOf") or {}).get("reference")))
        if hsa_id(caregiver):
            sub(professional, f"{_C}healthcareProfessionalCareGiverHSAId", hsa_id(caregiver))


def _not_for_patient(plan: dict[str, Any], table: dict[str, Any]) -> bool:
    labels = {(s.get("system"), s.get("code")) for s in (plan.get("meta") or {}).get("security", [])}
    return any((c["system"], c["code"]) in labels for c in table["notForPatientSecurityCodes"])


def _author_units(plan: dict[str, Any], resolved: Resources) -> list[str]:
    author = resolved.get(str((plan.get("author") or {}).get("reference"))) or {}
    unit = (
        author
        if author.get("resourceType") == "Organization"
        else resolved.get(str((author.get("organization") or {}).get("reference")))
    )
    return [hsa] if (hsa := hsa_id(unit)) else []


def _contributing_units(plan: dict[str, Any], resolved: Resources) -> list[str]:
    units: list[str] = []
    for contributor in plan.get("contributor", []):
        hsa = hsa_id(resolved.get(str(contributor.get("reference"))))
        if hsa and hsa not in units:
            units.append(hsa)
    return units


# -- the endpoint ------------------------------------------------------------------------
@soap_endpoint
async def endpoint(request: Request) -> Response:
    """POST: answer a GetCarePlans request."""
    limit = request.app.state.context.settings.max_body_bytes
    try:
        address, element = await read_request(request, limit, f"{_R}GetCarePlans")
        check_logical_address(address, mapping("npo"))
    except SoapFault as error:
        return xml_response(fault(error), 500)
    try:
        answer = await _answer(request, element, mapping("npo"))
    except InvalidRequest as invalid:
        answer = error_response(str(invalid))
    return xml_response(envelope(answer, address))


async def _answer(request: Request, element: etree._Element, table: dict[str, Any]) -> etree._Element:
    number = (element.findtext(f"{_R}patientId/{_C}id") or "").strip()
    oid = (element.findtext(f"{_R}patientId/{_C}type") or "").strip()
    system = person_system(table, oid, number)
    start = (element.findtext(f"{_R}datePeriod/{_C}start") or "").strip()
    end = (element.findtext(f"{_R}datePeriod/{_C}end") or "").strip()
    if element.find(f"{_R}datePeriod") is not None and not (valid_date(start) and valid_date(end)):
        raise InvalidRequest("datePeriod needs start and end as YYYYMMDD")
    if start and end and start > end:
        raise InvalidRequest("datePeriod starts after it ends")
    source = (element.findtext(f"{_R}sourceSystemHSAId") or "").strip()
    units = {(u.text or "").strip() for u in element.findall(f"{_R}careUnitHSAId")} - {""}
    patient_id = await find_patient(request, system, number)
    if patient_id is None or (source and source != table["sourceSystemHSAId"]):
        return care_plans_response([], {}, (number, oid), table)
    repository = request.app.state.context.repository
    plans, resolved = await load_plans(repository, caller(request), patient_id, fhir_base(request), MAX_PLANS)
    kept = []
    for_the_patient = caller(request).kind == "patient"
    for plan in plans:
        if is_declined_offer(plan):
            continue  # a record that the patient declined a contract is no care plan to show
        if for_the_patient and not approved_for_patient(plan, table):
            continue  # what the answer would mark as not for the patient is not given to them
        day = riv_date(plan.get("created") or (plan.get("meta") or {}).get("lastUpdated"))
        if start and not (start <= day <= end):
            continue
        if units and not units & {*_contributing_units(plan, resolved), *_author_units(plan, resolved)}:
            continue
        kept.append(plan)
    return care_plans_response(kept, resolved, (number, oid), table)


def approved_for_patient(plan: dict[str, Any], table: dict[str, Any]) -> bool:
    """``approvedForPatient``: not labelled not-for-the-patient, and agreed (a draft is not yet)."""
    return not _not_for_patient(plan, table) and plan.get("status") != "draft"


ADAPTER = rivta_adapter(
    "npo-get-care-plans",
    PATH,
    endpoint,
    "GetCarePlans-2.0",
    "interactions/GetCarePlansInteraction/GetCarePlansInteraction_2.0_RIVTABP21.wsdl",
    reads="CarePlan",
)

"""NPÖ: GetCareManagers 1.0, the patient's fixed care contact and treating roles (RIV-TA).

``POST /riv/coreprocess/residentparticipation/residentparticipation/GetCareManagers/1/rivtabp21``
answers the national platform (SOAP 1.1, RIVTABP21) with one ``careManager`` per active care
role of the patient's care teams (:mod:`fhirbridge.contract.care_contacts`): the fixed care
contact, the fixed doctor and the treating roles, with HSA-ids, unit, caregiver and phone.
Codes, texts, OIDs and this source system's HSA-id come from ``mappings/npo.json``.

:func:`care_managers_response` is the pure mapping; :func:`endpoint` reads the request, finds
the patient by personnummer or samordningsnummer and the care network through the repository.
The contract has no result element, so a bad request (not SOAP, an unknown OID, a malformed
personnummer) is a SOAP fault, with HTTP 500 as SOAP 1.1 and WS-I Basic Profile R1126 require.
A patient this server does not know gets an empty answer.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

from fhirbridge.adapters.adapter import caller
from fhirbridge.adapters.mappings import mapping
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
from fhirbridge.contract.care_contacts import CareContact, care_contacts
from fhirbridge.contract.care_network import CareNetwork, load_care_network
from fhirbridge.contract.people import person_of
from fhirbridge.fhir.instants import now_us

PATH = "/riv/coreprocess/residentparticipation/residentparticipation/GetCareManagers/1/rivtabp21"
RESPONDER = "urn:riv:coreprocess:residentparticipation:residentparticipation:GetCareManagersResponder:1"
CORE = "urn:riv:coreprocess:residentparticipation:residentparticipation:1"
CARE_TEAM_ROOT = "https://fhirbridge.se/fhir/CareTeam"
_R = f"{{{RESPONDER}}}"
_C = f"{{{CORE}}}"


def care_managers_response(
    contacts: list[CareContact],
    network: CareNetwork,
    patient: tuple[str, str],
    table: dict[str, Any],
) -> etree._Element:
    """The GetCareManagersResponse for a patient's care contacts (``patient`` = OID, number)."""
    response = etree.Element(f"{_R}GetCareManagersResponse", nsmap={None: RESPONDER, "core": CORE})
    for contact in contacts:
        element = _care_manager(contact, network, patient, table)
        if element is not None:
            response.append(element)
    return response


def _care_manager(
    contact: CareContact, network: CareNetwork, patient: tuple[str, str], table: dict[str, Any]
) -> etree._Element | None:
    hsa_root = table["oids"]["hsaId"]
    person = person_of(network.resolved.get(str(contact.member.get("reference"))), network.resolved)
    unit = network.resolved.get(str((contact.unit or {}).get("reference")))
    caregiver = network.resolved.get(str(((unit or {}).get("partOf") or {}).get("reference"))) or unit
    person_hsa, unit_hsa, caregiver_hsa = hsa_id(person), hsa_id(unit), hsa_id(caregiver)
    if person_hsa is None or caregiver_hsa is None:
        return None  # the contract requires HSA-ids of the person and the caregiver
    team = next((t for t in network.teams if f"CareTeam/{t.get('id')}" == contact.care_team), {})
    manager = etree.Element(f"{_R}careManager")
    header = sub(manager, f"{_C}careManagerHeader")
    access = sub(header, f"{_C}accessControlHeader")
    _ii(access, "accountableHealthcareProviderId", hsa_root, caregiver_hsa)
    if unit_hsa:
        _ii(access, "accountableCareUnitId", hsa_root, unit_hsa)
    _ii(access, "patientId", *patient)
    block_time = local_time((team.get("meta") or {}).get("lastUpdated"))
    sub(access, f"{_C}blockComparisonTime", valid_time(block_time) or local_time(None))
    _ii(header, "sourceSystemId", hsa_root, table["sourceSystemHSAId"])
    types = table["careManagerTypes"]
    code = sub(manager, f"{_C}code")
    sub(code, f"{_C}code", contact.role["code"])
    sub(code, f"{_C}codeSystem", types["codeSystem"])
    sub(code, f"{_C}codeSystemName", types["codeSystemName"])
    sub(code, f"{_C}displayName", types["displayNames"].get(contact.role["code"], contact.role.get("display", "")))
    practitioner = sub(manager, f"{_C}practitioner")
    _ii(practitioner, "hsaId", hsa_root, person_hsa)
    sub(practitioner, f"{_C}name", contact.name)
    care_team = sub(manager, f"{_C}careTeam")
    _ii(care_team, "id", CARE_TEAM_ROOT, str(team.get("id", "")))
    sub(care_team, f"{_C}name", str(team.get("name") or "Vårdteam"))
    period = sub(manager, f"{_C}period")
    start = contact.since or (team.get("period") or {}).get("start") or (team.get("meta") or {}).get("lastUpdated")
    sub(period, f"{_C}start", valid_date(riv_date(start)) or riv_date(None))
    _organization(manager, "managingCareGiver", caregiver, caregiver_hsa, hsa_root)
    if unit is not None and unit_hsa:
        _organization(manager, "managingCareUnit", unit, unit_hsa, hsa_root)
    if contact.phones:
        contact_element = sub(manager, f"{_C}contact")
        for phone in contact.phones:
            telecom = sub(contact_element, f"{_C}telecom")
            system = sub(telecom, f"{_C}system")
            sub(system, f"{_C}code", table["telecom"]["phone"]["code"])
            sub(system, f"{_C}displayName", table["telecom"]["phone"]["displayName"])
            sub(telecom, f"{_C}value", phone)
    return manager


def _organization(parent: etree._Element, name: str, org: dict[str, Any] | None, hsa: str, root: str) -> None:
    element = sub(parent, f"{_C}{name}")
    _ii(element, "hsaId", root, hsa)
    if org and org.get("name"):
        sub(element, f"{_C}name", str(org["name"]))


def _ii(parent: etree._Element, name: str, root: str, extension: str) -> None:
    element = sub(parent, f"{_C}{name}")
    sub(element, f"{_C}root", root)
    sub(element, f"{_C}extension", extension)


# -- the endpoint ------------------------------------------------------------------------
@soap_endpoint
async def endpoint(request: Request) -> Response:
    """POST: answer a GetCareManagers request."""
    ctx = request.app.state.context
    try:
        address, element = await read_request(request, ctx.settings.max_body_bytes, f"{_R}GetCareManagers")
        table = mapping("npo")
        check_logical_address(address, table)
        root = (element.findtext(f"{_R}patientId/{_C}root") or "").strip()
        extension = (element.findtext(f"{_R}patientId/{_C}extension") or "").strip()
        try:
            system = person_system(table, root, extension)
        except InvalidRequest as invalid:
            raise SoapFault(str(invalid)) from None  # this contract has no result element: a fault
        patient_id = await find_patient(request, system, extension)
        contacts: list[CareContact] = []
        network = CareNetwork([], {})
        if patient_id is not None:
            limit = ctx.settings.max_page_size
            network = await load_care_network(ctx.repository, caller(request), patient_id, fhir_base(request), limit)
            contacts = _filtered(care_contacts(network.teams, network.resolved, now_us()), element, network)
        answer = care_managers_response(contacts, network, (root, extension), table)
        return xml_response(envelope(answer, address))
    except SoapFault as error:
        return xml_response(fault(error), 500)


def _filtered(contacts: list[CareContact], element: etree._Element, network: CareNetwork) -> list[CareContact]:
    """Apply the request's careManagerType, careGiverId and careUnitId filters."""
    types = {(code.text or "").strip() for code in element.findall(f"{_R}careManagerType/{_C}code")} - {""}
    caregiver = (element.findtext(f"{_R}careGiverId/{_C}extension") or "").strip()
    unit = (element.findtext(f"{_R}careUnitId/{_C}extension") or "").strip()
    kept = []
    for contact in contacts:
        if types and contact.role["code"] not in types:
            continue
        org = network.resolved.get(str((contact.unit or {}).get("reference")))
        giver = network.resolved.get(str(((org or {}).get("partOf") or {}).get("reference"))) or org
        if unit and hsa_id(org) != unit:
            continue
        if caregiver and hsa_id(giver) != caregiver:
            continue
        kept.append(contact)
    return kept


ADAPTER = rivta_adapter(
    "npo-get-care-managers",
    PATH,
    endpoint,
    "GetCareManagers-1.0",
    "interactions/GetCareManagersInteraction/GetCareManagersInteraction_1.0_RIVTABP21.wsdl",
    reads="CareTeam",
)

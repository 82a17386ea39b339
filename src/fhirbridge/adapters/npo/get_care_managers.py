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

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

from fhirbridge.adapters.registry import Adapter, mapping
from fhirbridge.adapters.riv.soap import SoapFault, envelope, fault, parse_request
from fhirbridge.contract.care_contacts import CareContact, care_contacts
from fhirbridge.contract.care_network import CareNetwork, load_care_network
from fhirbridge.fhir.instants import now_us
from fhirbridge.identity import ANONYMOUS
from fhirbridge.search.query import parse_query
from fhirbridge.sweden.identifiers import HSA_SYSTEM, identifier_problem

PATH = "/riv/coreprocess/residentparticipation/residentparticipation/GetCareManagers/1/rivtabp21"
RESPONDER = "urn:riv:coreprocess:residentparticipation:residentparticipation:GetCareManagersResponder:1"
CORE = "urn:riv:coreprocess:residentparticipation:residentparticipation:1"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
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
    person = _person(contact, network.resolved)
    unit = network.resolved.get(str((contact.unit or {}).get("reference")))
    caregiver = network.resolved.get(str(((unit or {}).get("partOf") or {}).get("reference"))) or unit
    person_hsa, unit_hsa, caregiver_hsa = _hsa(person), _hsa(unit), _hsa(caregiver)
    if person_hsa is None or caregiver_hsa is None:
        return None  # the contract requires HSA-ids of the person and the caregiver
    team = next((t for t in network.teams if f"CareTeam/{t.get('id')}" == contact.care_team), {})
    manager = etree.Element(f"{_R}careManager")
    header = _sub(manager, f"{_C}careManagerHeader")
    access = _sub(header, f"{_C}accessControlHeader")
    _ii(access, "accountableHealthcareProviderId", hsa_root, caregiver_hsa)
    if unit_hsa:
        _ii(access, "accountableCareUnitId", hsa_root, unit_hsa)
    _ii(access, "patientId", *patient)
    _sub(access, f"{_C}blockComparisonTime", _local_time((team.get("meta") or {}).get("lastUpdated")))
    _ii(header, "sourceSystemId", hsa_root, table["sourceSystemHSAId"])
    types = table["careManagerTypes"]
    code = _sub(manager, f"{_C}code")
    _sub(code, f"{_C}code", contact.role["code"])
    _sub(code, f"{_C}codeSystem", types["codeSystem"])
    _sub(code, f"{_C}codeSystemName", types["codeSystemName"])
    _sub(code, f"{_C}displayName", types["displayNames"].get(contact.role["code"], contact.role.get("display", "")))
    practitioner = _sub(manager, f"{_C}practitioner")
    _ii(practitioner, "hsaId", hsa_root, person_hsa)
    _sub(practitioner, f"{_C}name", contact.name)
    care_team = _sub(manager, f"{_C}careTeam")
    _ii(care_team, "id", CARE_TEAM_ROOT, str(team.get("id", "")))
    _sub(care_team, f"{_C}name", str(team.get("name") or "Vårdteam"))
    period = _sub(manager, f"{_C}period")
    start = contact.since or (team.get("period") or {}).get("start") or (team.get("meta") or {}).get("lastUpdated")
    _sub(period, f"{_C}start", _date(start))
    _organization(manager, "managingCareGiver", caregiver, caregiver_hsa, hsa_root)
    if unit is not None and unit_hsa:
        _organization(manager, "managingCareUnit", unit, unit_hsa, hsa_root)
    if contact.phones:
        contact_element = _sub(manager, f"{_C}contact")
        for phone in contact.phones:
            telecom = _sub(contact_element, f"{_C}telecom")
            system = _sub(telecom, f"{_C}system")
            _sub(system, f"{_C}code", table["telecom"]["phone"]["code"])
            _sub(system, f"{_C}displayName", table["telecom"]["phone"]["displayName"])
            _sub(telecom, f"{_C}value", phone)
    return manager


def _person(contact: CareContact, resolved: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    member = resolved.get(str(contact.member.get("reference")))
    if member is not None and member.get("resourceType") == "PractitionerRole":
        return resolved.get(str((member.get("practitioner") or {}).get("reference"))) or member
    return member


def _hsa(resource: dict[str, Any] | None) -> str | None:
    for identifier in (resource or {}).get("identifier", []):
        if identifier.get("system") == HSA_SYSTEM and identifier.get("value"):
            return str(identifier["value"])
    return None


def _organization(parent: etree._Element, name: str, org: dict[str, Any] | None, hsa: str, root: str) -> None:
    element = _sub(parent, f"{_C}{name}")
    _ii(element, "hsaId", root, hsa)
    if org and org.get("name"):
        _sub(element, f"{_C}name", str(org["name"]))


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _ii(parent: etree._Element, name: str, root: str, extension: str) -> None:
    element = _sub(parent, f"{_C}{name}")
    _sub(element, f"{_C}root", root)
    _sub(element, f"{_C}extension", extension)


def _local_time(instant: str | None) -> str:
    """``YYYYMMDDhhmmss`` in Swedish local time (RIV-TA TimeStampType)."""
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00")) if instant else datetime.now(UTC)
    return moment.astimezone(STOCKHOLM).strftime("%Y%m%d%H%M%S")


def _date(value: str | None) -> str:
    """``YYYYMMDD`` (RIV-TA DateType) from a FHIR date or dateTime."""
    if not value:
        return datetime.now(STOCKHOLM).strftime("%Y%m%d")
    if len(value) > 10:
        return _local_time(value)[:8]
    return (value + "-01-01")[:10].replace("-", "")


# -- the endpoint ------------------------------------------------------------------------
async def endpoint(request: Request) -> Response:
    """POST: answer a GetCareManagers request."""
    ctx = request.app.state.context
    try:
        body = await request.body()
        if len(body) > ctx.settings.max_body_bytes:
            raise SoapFault("The request is too large")
        address, element = parse_request(body)
        if element.tag != f"{_R}GetCareManagers":
            raise SoapFault(f"This address answers GetCareManagers ({RESPONDER}), not {element.tag}")
        table = mapping("npo")
        patient = _patient_id(element, table)
        system = table["fhirPersonSystems"][patient[0]]
        query = parse_query(
            "Patient", [("identifier", f"{system}|{patient[1]}")], strict=True, default_count=2, max_count=2
        )
        base = str(request.base_url).rstrip("/") + "/fhir"
        page = await ctx.repository.search(ANONYMOUS, query, base)  # the platform's identity: issue 6
        contacts: list[CareContact] = []
        network = CareNetwork([], {})
        if page.matches:
            patient_id = page.matches[0].resource_id
            network = await load_care_network(ctx.repository, ANONYMOUS, patient_id, base, ctx.settings.max_page_size)
            contacts = _filtered(care_contacts(network.teams, network.resolved, now_us()), element, network)
        answer = care_managers_response(contacts, network, patient, table)
        return Response(envelope(answer, address), media_type="text/xml; charset=utf-8")
    except SoapFault as error:
        return Response(fault(error), status_code=500, media_type="text/xml; charset=utf-8")


def _patient_id(element: etree._Element, table: dict[str, Any]) -> tuple[str, str]:
    root = (element.findtext(f"{_R}patientId/{_C}root") or "").strip()
    extension = (element.findtext(f"{_R}patientId/{_C}extension") or "").strip()
    if not root or not extension:
        raise SoapFault("patientId needs a root (the OID of personnummer or samordningsnummer) and an extension")
    system = table["fhirPersonSystems"].get(root)
    if system is None:
        known = ", ".join(sorted(table["fhirPersonSystems"]))
        raise SoapFault(f"Unknown patientId root {root}: this source system knows {known}")
    problem = identifier_problem(system, extension)
    if problem is not None:
        raise SoapFault(f"patientId: {problem}")
    return root, extension


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
        if unit and _hsa(org) != unit:
            continue
        if caregiver and _hsa(giver) != caregiver:
            continue
        kept.append(contact)
    return kept


ADAPTER = Adapter(name="npo-get-care-managers", mapping="npo", routes=(("POST", PATH, endpoint),))

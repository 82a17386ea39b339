"""NPÖ GetCareManagers 1.0 over SOAP, as the national platform calls it; every answer is checked
against the official schema (src/fhirbridge/adapters/riv/schemas)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from lxml import etree

from fhirbridge.adapters.npo.get_care_managers import CORE, PATH, RESPONDER
from fhirbridge.adapters.riv.soap import SOAP
from fhirbridge.demo.generator import demo_resources
from fhirbridge.loading import Loader, SourcedResource

SCHEMAS = Path(__file__).resolve().parents[2] / "src/fhirbridge/adapters/riv/schemas"
RESPONDER_XSD = SCHEMAS / "GetCareManagers-1.0/interactions/GetCareManagersInteraction/GetCareManagersResponder_1.0.xsd"
PNR_OID = "1.2.752.129.2.1.3.1"
MARGARETA = "194809218805"  # the first demo patient


def request(root: str = PNR_OID, extension: str = MARGARETA, extra: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="{SOAP}" xmlns:add="urn:riv:itintegration:registry:1"
    xmlns:r="{RESPONDER}" xmlns:c="{CORE}">
  <soap:Header><add:LogicalAddress>SE2321000198-FHIRBRIDGE</add:LogicalAddress></soap:Header>
  <soap:Body><r:GetCareManagers>
    <r:patientId><c:root>{root}</c:root><c:extension>{extension}</c:extension></r:patientId>{extra}
  </r:GetCareManagers></soap:Body>
</soap:Envelope>""".encode()


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(RESPONDER_XSD)))


@pytest.fixture
async def demo(app: FastAPI) -> None:
    loader = Loader(app.state.context.repository)
    report = await loader.load(SourcedResource(r["id"], r) for r in demo_resources(3))
    assert not report.rejected


def _answer(response: httpx.Response, schema: etree.XMLSchema) -> etree._Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    envelope = etree.fromstring(response.content)
    answer = envelope.find(f"{{{SOAP}}}Body")[0]
    schema.assertValid(answer)
    return answer


async def test_the_fixed_care_contact_and_treating_roles_of_a_demo_patient(
    client: httpx.AsyncClient, demo: None, schema: etree.XMLSchema
) -> None:
    answer = _answer(await client.post(PATH, content=request()), schema)
    managers = answer.findall(f"{{{RESPONDER}}}careManager")
    codes = [m.findtext(f"{{{CORE}}}code/{{{CORE}}}code") for m in managers]
    assert codes[:2] == ["fast-vardkontakt", "fast-lakarkontakt"] and len(codes) >= 3
    first = managers[0]
    assert first.findtext(f"{{{CORE}}}practitioner/{{{CORE}}}name") == "Karin Lind"
    assert first.findtext(f"{{{CORE}}}practitioner/{{{CORE}}}hsaId/{{{CORE}}}extension").startswith("SE")
    assert first.findtext(f"{{{CORE}}}managingCareGiver/{{{CORE}}}name") == "Region Gävleborg"
    assert first.findtext(f"{{{CORE}}}managingCareUnit/{{{CORE}}}name") == "Vårdcentralen Norrtull"
    assert first.findtext(f"{{{CORE}}}contact/{{{CORE}}}telecom/{{{CORE}}}value")
    header = first.find(f"{{{CORE}}}careManagerHeader/{{{CORE}}}accessControlHeader")
    assert header.findtext(f"{{{CORE}}}patientId/{{{CORE}}}extension") == MARGARETA
    assert len(header.findtext(f"{{{CORE}}}blockComparisonTime")) == 14


async def test_a_filter_by_care_manager_type(client: httpx.AsyncClient, demo: None, schema: etree.XMLSchema) -> None:
    extra = "<r:careManagerType><c:code>fast-lakarkontakt</c:code></r:careManagerType>"
    answer = _answer(await client.post(PATH, content=request(extra=extra)), schema)
    codes = [m.findtext(f"{{{CORE}}}code/{{{CORE}}}code") for m in answer]
    assert codes == ["fast-lakarkontakt"]


async def test_an_unknown_patient_gets_an_empty_answer(client: httpx.AsyncClient, schema: etree.XMLSchema) -> None:
    answer = _answer(await client.post(PATH, content=request(extension="191212121212")), schema)
    assert len(answer) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (request(extension="19480921-8805"), "patientId"),
        (request(extension="194809218806"), "check digit"),
        (request(root="1.2.3.4"), "Unknown patientId"),
        (b"not xml at all", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', ""),
        (request().replace(b"GetCareManagers>", b"GetSomethingElse>"), "GetSomethingElse"),
    ],
)
async def test_a_bad_request_is_a_soap_fault_without_internals(
    client: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    response = await client.post(PATH, content=body)
    assert response.status_code == 500  # SOAP 1.1 and WS-I BP R1126: a fault travels with HTTP 500
    fault = etree.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault is not None and fault.findtext("faultcode") == "soap:Client"
    assert reason in fault.findtext("faultstring")
    assert "Traceback" not in response.text and "root:" not in response.text

"""NPÖ GetCarePlans 2.0 over SOAP: the demo contracts and linked plans, checked against the
official schema (src/fhirbridge/adapters/riv/schemas)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from lxml import etree

from fhirbridge.adapters.npo.get_care_plans import CORE, PATH, RESPONDER
from fhirbridge.adapters.riv.soap import SOAP
from fhirbridge.demo.generator import demo_resources
from fhirbridge.loading import Loader, SourcedResource

SCHEMAS = Path(__file__).resolve().parents[2] / "src/fhirbridge/adapters/riv/schemas"
RESPONDER_XSD = SCHEMAS / "GetCarePlans-2.0/interactions/GetCarePlansInteraction/GetCarePlansResponder_2.0.xsd"
PNR_OID = "1.2.752.129.2.1.3.1"
C = f"{{{CORE}}}"
R = f"{{{RESPONDER}}}"


def request(number: str, oid: str = PNR_OID, extra: str = "") -> bytes:
    return f"""<soap:Envelope xmlns:soap="{SOAP}" xmlns:add="urn:riv:itintegration:registry:1"
    xmlns:r="{RESPONDER}" xmlns:c="{CORE}">
  <soap:Header><add:LogicalAddress>SE2321000198-FHIRBRIDGE</add:LogicalAddress></soap:Header>
  <soap:Body><r:GetCarePlans>
    <r:patientId><c:id>{number}</c:id><c:type>{oid}</c:type></r:patientId>{extra}
  </r:GetCarePlans></soap:Body>
</soap:Envelope>""".encode()


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(RESPONDER_XSD)))


@pytest.fixture
async def demo(app: FastAPI) -> list[dict]:
    resources = list(demo_resources(6))
    report = await Loader(app.state.context.repository).load(SourcedResource(r["id"], r) for r in resources)
    assert not report.rejected
    return resources


def _answer(response: httpx.Response, schema: etree.XMLSchema) -> etree._Element:
    assert response.status_code == 200, response.text
    answer = etree.fromstring(response.content).find(f"{{{SOAP}}}Body")[0]
    schema.assertValid(answer)
    return answer


def _number(resources: list[dict], patient_id: str) -> str:
    patient = next(r for r in resources if r["id"] == patient_id)
    return str(patient["identifier"][0]["value"])


async def test_every_demo_patients_plans_validate_and_carry_the_contract(
    client: httpx.AsyncClient, demo: list[dict], schema: etree.XMLSchema
) -> None:
    patients = [r["id"] for r in demo if r["resourceType"] == "Patient" and r["id"].startswith("demo-patient-")]
    linked = 0
    for patient_id in patients:
        answer = _answer(await client.post(PATH, content=request(_number(demo, patient_id))), schema)
        assert answer.findtext(f"{R}result/{C}resultCode") == "OK"
        plans = answer.findall(f"{R}carePlan")
        types = [p.findtext(f"{C}carePlanBody/{C}typeOfCarePlanEnum") for p in plans]
        assert "VP" in types  # the contract, as mappings/npo.json maps it
        linked += types.count("SIP")
        contract = plans[types.index("VP")]
        header = contract.find(f"{C}carePlanHeader")
        assert header.findtext(f"{C}documentId").startswith("PK-")
        assert header.findtext(f"{C}documentTitle").startswith("Patientkontrakt för")
        assert header.findtext(f"{C}approvedForPatient") == "true"
        professional = header.find(f"{C}accountableHealthcareProfessional")
        assert professional.findtext(f"{C}healthcareProfessionalHSAId").startswith("SE")
        assert professional.findtext(f"{C}healthcareProfessionalCareGiverHSAId").startswith("SE")
        assert contract.findall(f"{C}carePlanBody/{C}participatingCareUnitHSAId")
        html = base64.b64decode(contract.findtext(f"{C}carePlanBody/{C}content/{C}value")).decode()
        for heading in (
            "Det här är viktigt för mig",
            "Det här gör jag själv",
            "Det här gör vården",
            "Vem jag kontaktar och hur",
            "Min nästa tid",
        ):
            assert heading in html
    assert linked >= 1  # some demo patients have a SIP


async def test_a_revoked_plan_is_nullified_and_a_plan_not_for_the_patient_says_so(
    client: httpx.AsyncClient, demo: list[dict], schema: etree.XMLSchema
) -> None:
    contract = (await client.get("/fhir/CarePlan/demo-contract-00001")).json()
    contract["status"] = "revoked"
    contract["meta"]["security"] = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "NOPATIENT"}]
    assert (await client.put("/fhir/CarePlan/demo-contract-00001", json=contract)).status_code == 200
    answer = _answer(await client.post(PATH, content=request(_number(demo, "demo-patient-00001"))), schema)
    header = next(
        p.find(f"{C}carePlanHeader")
        for p in answer.findall(f"{R}carePlan")
        if p.findtext(f"{C}carePlanHeader/{C}documentTitle", "").startswith("Patientkontrakt")
    )
    assert header.findtext(f"{C}nullified") == "true" and header.findtext(f"{C}nullifiedReason")
    assert header.findtext(f"{C}approvedForPatient") == "false"


async def test_filters_narrow_the_answer(client: httpx.AsyncClient, demo: list[dict], schema: etree.XMLSchema) -> None:
    number = _number(demo, "demo-patient-00001")
    other_source = "<r:sourceSystemHSAId>SE0000000000-ANNAT</r:sourceSystemHSAId>"
    assert not _answer(await client.post(PATH, content=request(number, extra=other_source)), schema).findall(
        f"{R}carePlan"
    )
    long_ago = "<r:datePeriod><c:start>19900101</c:start><c:end>19901231</c:end></r:datePeriod>"
    assert not _answer(await client.post(PATH, content=request(number, extra=long_ago)), schema).findall(f"{R}carePlan")
    unknown_unit = "<r:careUnitHSAId>SE0000000000-X</r:careUnitHSAId>"
    assert not _answer(await client.post(PATH, content=request(number, extra=unknown_unit)), schema).findall(
        f"{R}carePlan"
    )


@pytest.mark.parametrize(
    ("number", "oid", "extra", "reason"),
    [
        ("19480921-8805", PNR_OID, "", "patientId"),
        ("194809218805", "1.2.3", "", "Unknown patientId type"),
        (
            "194809218805",
            PNR_OID,
            "<r:datePeriod><c:start>2026</c:start><c:end>20261231</c:end></r:datePeriod>",
            "datePeriod",
        ),
        (
            "194809218805",
            PNR_OID,
            "<r:datePeriod><c:start>20261231</c:start><c:end>20260101</c:end></r:datePeriod>",
            "after it ends",
        ),
    ],
)
async def test_a_bad_request_gets_invalid_request_in_the_result(
    client: httpx.AsyncClient, schema: etree.XMLSchema, number: str, oid: str, extra: str, reason: str
) -> None:
    answer = _answer(await client.post(PATH, content=request(number, oid, extra)), schema)
    assert answer.findtext(f"{R}result/{C}resultCode") == "ERROR"
    assert answer.findtext(f"{R}result/{C}errorCode") == "INVALID_REQUEST"
    assert reason in answer.findtext(f"{R}result/{C}message")


async def test_what_is_not_the_contracts_message_is_a_soap_fault(client: httpx.AsyncClient) -> None:
    response = await client.post(PATH, content=b"<nej/>")
    assert response.status_code == 500
    assert etree.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault") is not None


@pytest.mark.parametrize("created", ["2016-12-31T23:59:60Z", "1899-12-31", "2100-01-01"])
async def test_odd_but_valid_fhir_dates_still_give_a_valid_answer(
    client: httpx.AsyncClient, demo: list[dict], schema: etree.XMLSchema, created: str
) -> None:
    contract = (await client.get("/fhir/CarePlan/demo-contract-00001")).json()
    contract["created"] = created
    assert (await client.put("/fhir/CarePlan/demo-contract-00001", json=contract)).status_code == 200
    answer = _answer(await client.post(PATH, content=request(_number(demo, "demo-patient-00001"))), schema)
    assert answer.findtext(f"{R}result/{C}resultCode") == "OK"


async def test_a_draft_is_not_approved_for_the_patient_and_the_html_declares_utf8(
    client: httpx.AsyncClient, demo: list[dict], schema: etree.XMLSchema
) -> None:
    contract = (await client.get("/fhir/CarePlan/demo-contract-00001")).json()
    contract["status"] = "draft"
    assert (await client.put("/fhir/CarePlan/demo-contract-00001", json=contract)).status_code == 200
    answer = _answer(await client.post(PATH, content=request(_number(demo, "demo-patient-00001"))), schema)
    plan = next(
        p for p in answer.findall(f"{R}carePlan") if p.findtext(f"{C}carePlanBody/{C}typeOfCarePlanEnum") == "VP"
    )
    assert plan.findtext(f"{C}carePlanHeader/{C}approvedForPatient") == "false"
    html = base64.b64decode(plan.findtext(f"{C}carePlanBody/{C}content/{C}value")).decode()
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html


async def test_only_the_patients_own_goals_read_as_what_matters_to_them(
    client: httpx.AsyncClient, demo: list[dict], schema: etree.XMLSchema
) -> None:
    """A clinician's goal stands apart, with who expressed it (issue 13.4)."""
    contract = (await client.get("/fhir/CarePlan/demo-contract-00001")).json()
    author = contract["author"]
    clinician_goal = {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": "HbA1c under 58 mmol/mol"},
        "subject": contract["subject"],
        "expressedBy": {"reference": author["reference"], "display": "Karin Lind"},
    }
    created = await client.post("/fhir/Goal", json=clinician_goal)
    assert created.status_code == 201, created.text
    contract["goal"].append({"reference": f"Goal/{created.json()['id']}"})
    assert (await client.put("/fhir/CarePlan/demo-contract-00001", json=contract)).status_code == 200
    answer = _answer(await client.post(PATH, content=request(_number(demo, "demo-patient-00001"))), schema)
    plan = next(
        p for p in answer.findall(f"{R}carePlan") if p.findtext(f"{C}carePlanBody/{C}typeOfCarePlanEnum") == "VP"
    )
    html = base64.b64decode(plan.findtext(f"{C}carePlanBody/{C}content/{C}value")).decode()
    own, _, others = html.partition("<h2>Mål som andra än patienten har formulerat</h2>")
    assert "Det här är viktigt för mig" in own and "HbA1c" not in own
    assert "<li>HbA1c under 58 mmol/mol (uttryckt av " in others
    patient_goals = [g for g in demo if g["resourceType"] == "Goal" and g["id"].startswith("demo-goal-00001")]
    assert any(g["description"]["text"] in own for g in patient_goals)


async def test_a_declined_offer_is_no_care_plan_in_npo(
    client: httpx.AsyncClient, demo: list[dict], schema: etree.XMLSchema
) -> None:
    """A patient who declined a contract has no care plan to show: the record of the declined
    offer (seed 001) is for the follow-up, not NPÖ."""
    declined = next(r["id"] for r in demo if r["id"].startswith("demo-declined-0"))
    answer = _answer(await client.post(PATH, content=request(_number(demo, declined))), schema)
    assert answer.findtext(f"{R}result/{C}resultCode") == "OK"
    assert answer.findall(f"{R}carePlan") == []

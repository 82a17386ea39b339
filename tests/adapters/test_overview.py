"""The 1177-style patient overview: every section, in the patient's order, in plain Swedish;
plans not approved for the patient are not shown."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from fhirbridge.fhir.xml import read_xml

FHIR_JSON = "application/fhir+json"
SECTIONS = [
    "Det här är viktigt för mig och mina mål",
    "Min nästa tid och nästa steg",
    "Det här gör jag själv",
    "Det här gör vården",
    "Vem jag vänder mig till",
    "Mina andra planer",
]


def outcome_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OperationOutcome an app gets for an error, in a JSON type it accepts."""
    assert response.status_code == status, response.text
    assert "json" in response.headers["content-type"]
    body: dict[str, Any] = json.loads(response.text)
    assert body["resourceType"] == "OperationOutcome"
    return body


async def _with_sip(client: httpx.AsyncClient) -> str:
    """A demo patient who has a SIP besides the contract."""
    plans = (await client.get("/fhir/CarePlan", params={"category": "sip"})).json()
    return str(plans["entry"][0]["resource"]["subject"]["reference"].split("/")[1])


async def test_the_json_overview_has_every_part_with_real_content(client: httpx.AsyncClient, demo: None) -> None:
    patient = await _with_sip(client)
    response = await client.get(f"/overview/{patient}", headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    [contract] = body["contracts"]
    assert contract["what_matters"] and contract["care_goals"] and contract["next_visit"]["start"]
    assert contract["my_part"] and contract["self_care"] and contract["when_to_seek_care"] and contract["care_does"]
    fixed = contract["fixed_care_contact"][0]
    assert fixed["name"] and fixed["phones"] and fixed["unit"] and fixed["hours"] and fixed["channels"]
    assert contract["fixed_doctor"][0]["name"] and contract["relatives"][0]["name"]
    assert contract["channels"]
    assert contract["other_plans"][0]["kind"] == "sip" and contract["other_plans"][0]["held_by"]
    assert contract["other_plans"][0]["linked"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", contract["agreed"]) and contract["last_revised"]
    assert contract["revised_by"]


async def test_the_page_shows_the_sections_in_the_patients_order(client: httpx.AsyncClient, demo: None) -> None:
    patient = await _with_sip(client)
    response = await client.get(f"/overview/{patient}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="sv">' in page and "<main>" in page and 'name="viewport"' in page and "@media print" in page
    positions = [page.index("Det här är planen som du och vården har kommit överens om tillsammans.")]
    positions += [page.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert 'href="tel:' in page and "Min fasta vårdkontakt" in page and "Min fasta läkarkontakt" in page


async def test_a_plan_not_approved_for_the_patient_is_not_shown(client: httpx.AsyncClient, demo: None) -> None:
    contract = (await client.get("/fhir/CarePlan/demo-contract-00001")).json()
    contract["meta"]["security"] = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "NOPATIENT"}]
    assert (await client.put("/fhir/CarePlan/demo-contract-00001", json=contract)).status_code == 200
    body = (await client.get("/overview/demo-patient-00001", headers={"Accept": "application/json"})).json()
    assert body["contracts"] == []
    assert "Det finns ingen plan att visa ännu." in (await client.get("/overview/demo-patient-00001")).text


async def test_texts_are_escaped(client: httpx.AsyncClient, demo: None) -> None:
    contract = (await client.get("/fhir/CarePlan/demo-contract-00002")).json()
    contract["activity"][0]["detail"]["description"] = "<script>alert(1)</script> Promenad"
    assert (await client.put("/fhir/CarePlan/demo-contract-00002", json=contract)).status_code == 200
    page = (await client.get("/overview/demo-patient-00002")).text
    assert "<script>" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("patient", ["finns-inte", "ogiltigt_id"])
async def test_an_unknown_patient_is_404_as_a_page_or_an_outcome(client: httpx.AsyncClient, patient: str) -> None:
    page = await client.get(f"/overview/{patient}", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="sv">' in page.text and "Det finns ingen sådan patient." in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for headers, params in (
        ({"Accept": "application/json"}, {}),
        ({"Accept": FHIR_JSON}, {}),
        ({}, {"_format": "json"}),
    ):
        response = await client.get(f"/overview/{patient}", headers=headers, params=params)
        body = outcome_of(response, 404)
        assert body["issue"][0]["code"] == "not-found"


async def test_a_kind_of_answer_the_overview_cannot_give_is_406(client: httpx.AsyncClient, demo: None) -> None:
    for headers, params in (({"Accept": "application/xml"}, {}), ({}, {"_format": "xml"})):
        response = await client.get("/overview/demo-patient-00001", headers=headers, params=params)
        assert response.status_code == 406  # the refusal itself in the FHIR XML the client accepts
        assert read_xml(response.content)["issue"][0]["code"] == "not-supported"
    response = await client.get("/overview/demo-patient-00001", headers={"Accept": "text/csv"})
    assert outcome_of(response, 406)["issue"][0]["code"] == "not-supported"


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        (None, "text/html"),
        ("*/*", "text/html"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("application/json", "application/json"),
        (f"{FHIR_JSON}, text/html;q=0.5", "application/json"),
    ],
)
async def test_browsers_get_the_page_and_apps_json(
    client: httpx.AsyncClient, demo: None, accept: str | None, kind: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = await client.get("/overview/demo-patient-00001", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith(kind)


async def test_who_holds_another_plan_is_a_name(client: httpx.AsyncClient, demo: None) -> None:
    karin = next(
        e["resource"] for e in (await client.get("/fhir/Practitioner", params={"family": "Lind"})).json()["entry"]
    )
    sip = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [{"system": "https://fhirbridge.se/fhir/CodeSystem/plan-type", "code": "sip"}]}],
        "title": "SIP med hemtjänsten",
        "subject": {"reference": "Patient/demo-patient-00001"},
        "author": {"reference": f"Practitioner/{karin['id']}"},
    }
    assert (await client.post("/fhir/CarePlan", json=sip)).status_code == 201
    body = (await client.get("/overview/demo-patient-00001", headers={"Accept": "application/json"})).json()
    holders = [p["held_by"] for p in body["contracts"][0]["other_plans"]]
    assert "Karin Lind" in holders


async def test_a_draft_contract_is_not_shown_to_the_patient(client: httpx.AsyncClient, demo: None) -> None:
    contract = (await client.get("/fhir/CarePlan/demo-contract-00001")).json()
    contract["status"] = "draft"
    assert (await client.put("/fhir/CarePlan/demo-contract-00001", json=contract)).status_code == 200
    body = (await client.get("/overview/demo-patient-00001", headers={"Accept": "application/json"})).json()
    assert body["contracts"] == []


async def test_every_answer_carries_the_security_headers_and_the_page_a_strict_policy(
    client: httpx.AsyncClient, demo: None
) -> None:
    page = await client.get("/overview/demo-patient-00001")
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy  # no scripts at all
    fhir = await client.get("/fhir/metadata")
    assert fhir.headers["x-content-type-options"] == "nosniff" and "content-security-policy" not in fhir.headers


async def test_a_declined_offer_is_no_plan_on_the_patients_page(client: httpx.AsyncClient, demo: None) -> None:
    """The record that the patient declined a contract (seed 001) is for the follow-up: their
    page shows no contract, and no other plan, from it."""
    offer = (await client.get("/fhir/CarePlan/demo-declined-offer-00001")).json()
    assert offer["status"] == "revoked"
    patient = offer["subject"]["reference"].split("/")[1]
    body = (await client.get(f"/overview/{patient}", headers={"Accept": "application/json"})).json()
    assert body["contracts"] == []
    assert "demo-declined-offer-00001" not in str(body)

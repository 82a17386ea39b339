"""FHIR XML over HTTP (R4 xml.html, http.html#mime-type): the same interactions as JSON, with
an XML body in and an XML answer out, on both database kinds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from lxml import etree

from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.xml import read_xml, write_xml
from tests.rest.test_transaction import contract_bundle
from tests.support import builders
from tests.support.api import create, history

FHIR_XML = "application/fhir+xml"
NS = {"f": "http://hl7.org/fhir", "h": "http://www.w3.org/1999/xhtml"}
XML_BODY = {"Content-Type": FHIR_XML}


def xml(response: httpx.Response, status: int) -> etree._Element:
    """The XML document of a response, after checking its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] in (FHIR_XML, "application/xml", "text/xml")
    return etree.fromstring(response.content)


def xml_outcome(response: httpx.Response, status: int) -> str:
    """The diagnostics of an OperationOutcome answered in XML."""
    root = xml(response, status)
    assert root.tag == "{http://hl7.org/fhir}OperationOutcome"
    return " ".join(root.xpath("//f:issue/f:diagnostics/@value", namespaces=NS))


def goal_with_decimals(patient_id: str) -> dict[str, Any]:
    goal = builders.goal(patient_id)
    goal["target"] = [
        {
            "measure": {"text": "HbA1c"},
            "detailQuantity": {"value": Decimal("0.010"), "unit": "mmol/mol"},
        }
    ]
    goal["text"] = {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Mål: <b>gå</b> till affären</p></div>',
    }
    goal["_lifecycleStatus"] = {"extension": [{"url": "http://example.se/note", "valueString": "satt av Tolvan"}]}
    return goal


async def test_create_in_xml_reads_back_in_xml_and_json(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    sent = goal_with_decimals(patient["id"])
    response = await client.post("/fhir/Goal", content=write_xml(sent), headers={**XML_BODY, "Accept": FHIR_XML})
    created = xml(response, 201)
    goal_id = created.find("f:id", NS).get("value")
    assert created.find("f:target/f:detailQuantity/f:value", NS).get("value") == "0.010"

    as_json = await client.get(f"/fhir/Goal/{goal_id}")
    assert as_json.status_code == 200
    stored = loads(as_json.content)
    assert stored["target"][0]["detailQuantity"]["value"] == Decimal("0.010")
    assert '"value":0.010' in as_json.text  # the digits the client wrote, not 0.01
    assert stored["_lifecycleStatus"] == sent["_lifecycleStatus"]
    assert stored["description"] == sent["description"]

    as_xml = xml(await client.get(f"/fhir/Goal/{goal_id}", params={"_format": "xml"}), 200)
    assert read_xml(etree.tostring(as_xml)) == stored
    names = [etree.QName(child).localname for child in as_xml]
    assert names[:4] == ["id", "meta", "text", "lifecycleStatus"]  # the StructureDefinition's order
    div = as_xml.find("f:text/h:div", NS)
    assert div is not None and div.find("h:p/h:b", NS).text == "gå"  # real XHTML, not an escaped string
    assert as_xml.find("f:lifecycleStatus/f:extension", NS).get("url") == "http://example.se/note"


async def test_an_xml_update_takes_the_same_rules_as_json(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    plan = await create(client, builders.care_plan(patient["id"]))
    changed = dict(plan, title="Nytt kontrakt")
    url = f"/fhir/CarePlan/{plan['id']}"
    updated = await client.put(url, content=write_xml(changed), headers={**XML_BODY, "If-Match": 'W/"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.json()["title"] == "Nytt kontrakt" and updated.json()["meta"]["versionId"] == "2"
    stale = await client.put(
        url, content=write_xml(changed), headers={**XML_BODY, "If-Match": 'W/"1"', "Accept": FHIR_XML}
    )
    assert "version" in xml_outcome(stale, 412).lower()
    wrong = dict(changed, status="bogus")
    refused = await client.put(url, content=write_xml(wrong), headers={**XML_BODY, "Accept": FHIR_XML})
    assert "bogus" in xml_outcome(refused, 400)
    assert len(await history(client, f"CarePlan/{plan['id']}/_history")) == 2


async def test_search_and_history_answer_in_xml(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient(family="Öberg"))
    await create(client, builders.care_plan(patient["id"]))
    search = xml(
        await client.get(
            "/fhir/CarePlan", params={"subject": f"Patient/{patient['id']}"}, headers={"Accept": FHIR_XML}
        ),
        200,
    )
    assert search.tag == "{http://hl7.org/fhir}Bundle"
    assert search.find("f:type", NS).get("value") == "searchset"
    plans = search.findall("f:entry/f:resource/f:CarePlan", NS)
    assert len(plans) == 1 and plans[0].find("f:title", NS).get("value") == "Patientkontrakt"
    included = xml(
        await client.get("/fhir/Patient", params={"family": "Öberg", "_format": "application/fhir+xml"}), 200
    )
    assert included.find("f:entry/f:resource/f:Patient/f:name/f:family", NS).get("value") == "Öberg"
    log = xml(await client.get(f"/fhir/Patient/{patient['id']}/_history", params={"_format": "xml"}), 200)
    assert log.find("f:type", NS).get("value") == "history"
    assert read_xml(etree.tostring(log))["entry"][0]["resource"]["id"] == patient["id"]


async def test_a_transaction_in_xml(client: httpx.AsyncClient) -> None:
    bundle, urls = contract_bundle(builders.personnummer())
    response = await client.post("/fhir", content=write_xml(bundle), headers={**XML_BODY, "Accept": FHIR_XML})
    answer = read_xml(etree.tostring(xml(response, 200)))
    assert answer["type"] == "transaction-response"
    assert [entry["response"]["status"] for entry in answer["entry"]] == ["201 Created"] * len(urls)
    plan_id = answer["entry"][0]["response"]["location"].split("/")[1]
    plan = (await client.get(f"/fhir/CarePlan/{plan_id}")).json()
    assert plan["subject"]["reference"].startswith("Patient/") and len(plan["goal"]) == 2


async def test_a_failed_xml_transaction_writes_nothing(client: httpx.AsyncClient) -> None:
    bundle, _ = contract_bundle(builders.personnummer())
    bundle["entry"][0]["resource"]["status"] = "bogus"
    response = await client.post("/fhir", content=write_xml(bundle), headers={**XML_BODY, "Accept": FHIR_XML})
    assert "bogus" in xml_outcome(response, 400)
    assert await history(client, "_history") == []


async def test_the_capability_statement_in_xml_lists_both_formats(client: httpx.AsyncClient) -> None:
    statement = xml(await client.get("/fhir/metadata", headers={"Accept": "application/xml"}), 200)
    assert statement.tag == "{http://hl7.org/fhir}CapabilityStatement"
    formats = statement.xpath("f:format/@value", namespaces=NS)
    assert "xml" in formats and "json" in formats
    assert set(read_xml(etree.tostring(statement))["format"]) >= {"xml", "json"}


async def test_bad_xml_is_a_400_outcome_in_the_format_asked_for_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    from tests.fhir.xml.test_hostile_xml import REFUSED

    for name, (body, named) in REFUSED.items():
        as_json = await client.post("/fhir/Patient", content=body, headers=XML_BODY)
        assert as_json.status_code == 400, (name, as_json.text)
        assert named in as_json.json()["issue"][0]["diagnostics"], name
        as_xml = await client.post("/fhir", content=body, headers={"Content-Type": "text/xml", "Accept": FHIR_XML})
        assert xml_outcome(as_xml, 400), name
    assert await history(client, "_history") == []


async def test_an_xml_body_over_the_limit_is_413(client: httpx.AsyncClient, app: Any) -> None:
    limit = app.state.context.settings.max_body_bytes
    family = "x" * limit
    body = f'<Patient xmlns="http://hl7.org/fhir"><name><family value="{family}"/></name></Patient>'.encode()
    response = await client.post("/fhir/Patient", content=body, headers={**XML_BODY, "Accept": FHIR_XML})
    assert "limit" in xml_outcome(response, 413)
    assert await history(client, "_history") == []


async def test_an_error_quoting_characters_xml_cannot_carry_is_still_an_xml_outcome(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/_history", params={"_format": "xml", "\x08\x00bad": "1"})
    assert "\ufffd" in xml_outcome(response, 400)

"""FHIR XML in production mode (bearer tokens, the access policy, the access log): an XML
request is judged exactly as the same request in JSON, and refusals answer in XML."""

from __future__ import annotations

from typing import Any

import httpx
from lxml import etree

from fhirbridge.fhir.xml import read_xml, write_xml
from tests.security.callers import anna_writer, doctor, stranger
from tests.security.test_patch_access import _log
from tests.security.tokens import SigningKey
from tests.security.world import World, patient_token
from tests.support import builders

FHIR_XML = "application/fhir+xml"
IN_XML = {"Content-Type": FHIR_XML, "Accept": FHIR_XML}


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The resource of an answer, read from XML (and checked to be XML)."""
    assert response.headers["content-type"].startswith(FHIR_XML), response.text
    return read_xml(response.content)


async def test_the_care_team_updates_in_xml_and_the_access_log_records_it(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    team = doctor(rsa, world)
    url = f"/fhir/CarePlan/{world['anna-plan']}"
    plan = (await anyone.get(url, headers=team)).json()
    sent = write_xml(dict(plan, title="Annas kontrakt"))
    response = await anyone.put(url, content=sent, headers={**team, **IN_XML, "If-Match": 'W/"1"'})
    assert response.status_code == 200, response.text
    assert _answer(response)["meta"]["versionId"] == "2"
    mine = await anyone.get(url, headers={**patient_token(rsa, world, "anna"), "Accept": FHIR_XML})
    assert mine.status_code == 200 and _answer(mine)["title"] == "Annas kontrakt"
    updates = [
        event
        for event in await _log(anyone, rsa, world["anna"])
        if any(code.get("code") == "update" for code in event["subtype"]) and event["outcome"] == "0"
    ]
    named = [entity["what"].get("reference") for event in updates for entity in event["entity"]]
    assert f"CarePlan/{world['anna-plan']}/_history/2" in named


async def test_xml_is_judged_as_json_is(anyone: httpx.AsyncClient, world: World, rsa: SigningKey) -> None:
    anna = anna_writer(rsa, world)
    bertils_plan = builders.care_plan(world["bertil"], title="Annas påhitt")
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": bertils_plan, "request": {"method": "POST", "url": "CarePlan"}}],
    }
    attempts: list[tuple[str, str, dict[str, str], dict[str, Any] | None]] = [
        ("GET", f"/fhir/CarePlan/{world['bertil-plan']}", anna, None),
        ("GET", f"/fhir/CarePlan/{world['anna-internal-plan']}", anna, None),
        ("GET", "/fhir/CarePlan/no-such-plan", anna, None),
        ("POST", "/fhir/CarePlan", anna, bertils_plan),
        ("POST", "/fhir", anna, transaction),
        ("POST", "/fhir/CarePlan", stranger(rsa, world), builders.care_plan(world["anna"])),
        ("GET", f"/fhir/CarePlan/{world['anna-plan']}", {}, None),
    ]
    for method, url, token, resource in attempts:
        as_json = await anyone.request(
            method, url, json=resource, headers={**token, "Content-Type": "application/fhir+json"}
        )
        content = write_xml(resource) if resource is not None else None
        as_xml = await anyone.request(method, url, content=content, headers={**token, **IN_XML})
        assert as_json.status_code >= 400, (url, as_json.text)
        assert as_xml.status_code == as_json.status_code, (url, as_xml.text)
        assert _answer(as_xml)["issue"] == as_json.json()["issue"], url
    found = await anyone.get("/fhir/CarePlan", params={"_format": "xml"}, headers=anna)
    plans = [entry["resource"]["id"] for entry in _answer(found).get("entry", [])]
    assert plans == [world["anna-plan"]]
    bertil = await anyone.get(f"/fhir/CarePlan?subject=Patient/{world['bertil']}", headers=doctor(rsa, world))
    assert [e["resource"]["title"] for e in bertil.json()["entry"]] == ["Patientkontrakt"]  # nothing was written


async def test_hostile_xml_from_a_token_holder_is_a_400_naming_the_dtd(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    from tests.fhir.xml.test_hostile_xml import BILLION_LAUGHS, XXE

    for body in (BILLION_LAUGHS, XXE):
        response = await anyone.post("/fhir/CarePlan", content=body, headers={**anna_writer(rsa, world), **IN_XML})
        assert response.status_code == 400
        root = etree.fromstring(response.content)
        assert "DTD" in root.find("{http://hl7.org/fhir}issue/{http://hl7.org/fhir}diagnostics").get("value")

"""Content negotiation (R4 http.html#mime-type, #general parameters _format and _pretty)."""

from __future__ import annotations

import json

import httpx
import pytest

from fhirbridge.fhir.xml import read_xml
from tests.support import builders
from tests.support.api import create, history, outcome

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"


@pytest.fixture
async def patient(client: httpx.AsyncClient) -> dict:
    return await create(client, builders.patient(family="Öberg", given="Åsa"))


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


ACCEPTED = {
    None: FHIR_JSON,
    FHIR_JSON: FHIR_JSON,
    "application/json": "application/json",
    "application/fhir+json; fhirVersion=4.0": FHIR_JSON,
    "*/*": FHIR_JSON,
    "application/fhir+xml;q=0.8, application/fhir+json;q=0.9": FHIR_JSON,
    "text/html, */*;q=0.1": FHIR_JSON,
}
ACCEPTED_XML = {
    FHIR_XML: FHIR_XML,
    "application/xml": "application/xml",
    "text/xml": "text/xml",
    "application/fhir+xml; fhirVersion=4.0": FHIR_XML,
    "application/fhir+xml;q=0.9, application/fhir+json;q=0.8": FHIR_XML,
}


async def test_read_answers_in_the_xml_type_the_client_accepts(client: httpx.AsyncClient, patient: dict) -> None:
    for accept, expected in ACCEPTED_XML.items():
        response = await client.get(f"/fhir/Patient/{patient['id']}", headers={"Accept": accept})
        assert response.status_code == 200, accept
        assert media_type(response) == expected, accept
        assert read_xml(response.content) == patient


async def test_read_answers_in_the_json_type_the_client_accepts(client: httpx.AsyncClient, patient: dict) -> None:
    for accept, expected in ACCEPTED.items():
        response = await client.get(f"/fhir/Patient/{patient['id']}", headers={"Accept": accept} if accept else {})
        assert response.status_code == 200, accept
        assert media_type(response) == expected, accept
        assert "charset=utf-8" in response.headers["content-type"].lower()
        assert response.json() == patient


async def test_a_response_format_the_server_cannot_produce_is_406(client: httpx.AsyncClient, patient: dict) -> None:
    url = f"/fhir/Patient/{patient['id']}"
    for accept in ("application/turtle", "text/html", "application/fhir+json; fhirVersion=3.0"):
        outcome(await client.get(url, headers={"Accept": accept}), 406)


async def test_format_parameter_overrides_accept(client: httpx.AsyncClient, patient: dict) -> None:
    for fmt in ("json", FHIR_JSON, "application/json"):
        response = await client.get(
            f"/fhir/Patient/{patient['id']}", params={"_format": fmt}, headers={"Accept": "application/fhir+xml"}
        )
        assert response.status_code == 200, fmt
        assert media_type(response) in (FHIR_JSON, "application/json")
        assert response.json()["id"] == patient["id"]


async def test_format_parameter_for_a_format_not_served_is_406(client: httpx.AsyncClient, patient: dict) -> None:
    for fmt in ("ttl", "html", "application/fhir+turtle"):
        outcome(await client.get(f"/fhir/Patient/{patient['id']}", params={"_format": fmt}), 406)


async def test_pretty_printing_changes_layout_not_content(client: httpx.AsyncClient, patient: dict) -> None:
    url = f"/fhir/Patient/{patient['id']}"
    pretty = await client.get(url, params={"_pretty": "true"})
    compact = await client.get(url, params={"_pretty": "false"})
    assert pretty.status_code == compact.status_code == 200
    assert pretty.text.count("\n") > 5
    assert "\n" not in compact.text.strip()
    assert json.loads(pretty.text) == json.loads(compact.text) == patient
    assert "Åsa" in pretty.text  # UTF-8, not \u escapes


async def test_search_and_history_negotiate_like_read(client: httpx.AsyncClient, patient: dict) -> None:
    for url in ("/fhir/Patient", f"/fhir/Patient/{patient['id']}/_history", "/fhir/metadata"):
        assert media_type(await client.get(url, headers={"Accept": "application/json"})) == "application/json"
        assert media_type(await client.get(url, params={"_format": "xml"})) == FHIR_XML
        outcome(await client.get(url, params={"_format": "ttl"}), 406)


async def test_json_request_bodies_are_accepted(client: httpx.AsyncClient) -> None:
    for content_type in ("application/fhir+json", "application/json", "application/fhir+json; charset=utf-8"):
        body = json.dumps(builders.patient()).encode()
        response = await client.post("/fhir/Patient", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 201, content_type


async def test_a_request_body_format_not_understood_is_415_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    body = json.dumps(builders.patient()).encode()
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/fhir+json; fhirVersion=3.0",
    ):
        headers = {"Content-Type": content_type}
        outcome(await client.post("/fhir/Patient", content=body, headers=headers), 415)
        outcome(await client.put("/fhir/Patient/p1", content=body, headers=headers), 415)
    assert await history(client, "_history") == []


async def test_a_body_without_a_content_type_is_415_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    patient = builders.patient()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}]}
    sent = [
        ("POST", "/fhir/Patient", patient),
        ("PUT", "/fhir/Patient/p1", dict(patient, id="p1")),
        ("PUT", "/fhir/Patient?identifier=x", patient),
        ("POST", "/fhir", bundle),
        ("POST", "/fhir/Patient/$validate", patient),
        ("POST", "/fhir/Patient/p1/$fixed-contacts", parameters),
    ]
    for method, url, body in sent:
        response = await client.request(method, url, content=json.dumps(body).encode())
        refused = outcome(response, 415)
        assert "Content-Type" in refused["issue"][0]["diagnostics"], url
    assert await history(client, "_history") == []


async def test_an_operation_without_a_body_needs_no_content_type(client: httpx.AsyncClient, patient: dict) -> None:
    response = await client.post(f"/fhir/Patient/{patient['id']}/$fixed-contacts")
    assert response.status_code == 200, response.text


async def test_unsupported_body_type_on_post_search_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient/_search", json={"name": "Öberg"})
    outcome(response, 415)


async def test_error_responses_honour_the_accepted_json_type(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/Patient/finns-inte", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert media_type(response) == "application/json"

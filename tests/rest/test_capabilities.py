"""GET /fhir/metadata (R4 http.html#capabilities): a CapabilityStatement that tells the truth.

Each claim is taken from the statement itself, as a client would, and then tried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support import builders
from tests.support.api import create, match_ids, outcome

Factory = Callable[[httpx.AsyncClient], Awaitable[dict[str, Any]]]


async def _patient(client: httpx.AsyncClient) -> str:
    return (await create(client, builders.patient()))["id"]


async def _practitioner(client: httpx.AsyncClient) -> str:
    return (await create(client, builders.practitioner()))["id"]


async def _organization(client: httpx.AsyncClient) -> str:
    return (await create(client, builders.organization()))["id"]


async def _care_plan(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.care_plan(await _patient(client))


async def _care_team(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.care_team(await _patient(client), await _practitioner(client))


async def _goal(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.goal(await _patient(client))


async def _patient_body(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.patient()


async def _practitioner_body(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.practitioner()


async def _practitioner_role(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.practitioner_role(await _practitioner(client), await _organization(client))


async def _organization_body(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.organization()


async def _related_person(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.related_person(await _patient(client))


async def _appointment(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.appointment(await _patient(client), await _practitioner(client))


async def _provenance(client: httpx.AsyncClient) -> dict[str, Any]:
    plan = await create(client, await _care_plan(client))
    return builders.provenance(f"CarePlan/{plan['id']}", await _practitioner(client))


async def _communication(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.communication(await _patient(client), await _practitioner(client))


async def _consent(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.consent(
        await _patient(client), f"Organization/{(await create(client, builders.organization()))['id']}"
    )


async def _subscription(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.subscription("Communication?recipient=Practitioner/karin")


async def _questionnaire_response(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.seven_answers(f"Patient/{await _patient(client)}", await _organization(client))


async def _condition(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.condition(await _patient(client))


async def _measure(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.measure()


async def _measure_report(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.measure_report("https://fhirbridge.se/fhir/Measure/SevenQuestions", await _organization(client))


async def _group(client: httpx.AsyncClient) -> dict[str, Any]:
    return builders.group(await _patient(client))


VALID: dict[str, Factory] = {
    "CarePlan": _care_plan,
    "CareTeam": _care_team,
    "Goal": _goal,
    "Patient": _patient_body,
    "Practitioner": _practitioner_body,
    "PractitionerRole": _practitioner_role,
    "Organization": _organization_body,
    "RelatedPerson": _related_person,
    "Appointment": _appointment,
    "Provenance": _provenance,
    "Communication": _communication,
    "Subscription": _subscription,
    "Consent": _consent,
    "QuestionnaireResponse": _questionnaire_response,
    "Condition": _condition,
    "Measure": _measure,
    "MeasureReport": _measure_report,
    "Group": _group,
}
"""A valid resource of every type this test knows how to build, with what it refers to created."""

SAMPLE_VALUE = {
    "token": "http://example.org|x",
    "string": "Tolvan",
    "date": "ge2026-01-01",
    "reference": "Patient/finns-inte",
    "uri": "http://example.org/fhir/StructureDefinition/x",
}


@pytest.fixture
async def statement(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    return body


def resources(statement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The stored types: those a client can create."""
    return {entry["type"]: entry for entry in statement["rest"][0]["resource"] if "create" in interactions(entry)}


def read_only(statement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The conformance resources that come with the server."""
    return {
        entry["type"]: entry
        for entry in statement["rest"][0]["resource"]
        if "create" not in interactions(entry) and entry["type"] != "AuditEvent"
    }


async def test_audit_events_are_listed_as_read_only_and_refuse_every_write(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    entry = next(e for e in statement["rest"][0]["resource"] if e["type"] == "AuditEvent")
    assert interactions(entry) == {"read", "vread", "search-type", "history-instance", "history-type"}
    assert entry["updateCreate"] is False
    event = {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "recorded": "2026-01-01T00:00:00Z",
        "agent": [{"requestor": True}],
        "source": {"observer": {"display": "x"}},
    }
    assert (await client.post("/fhir/AuditEvent", json=event)).status_code == 405
    assert (await client.put("/fhir/AuditEvent/x", json=dict(event, id="x"))).status_code == 405
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": event, "request": {"method": "POST", "url": "AuditEvent"}}],
    }
    assert (await client.post("/fhir", json=bundle)).status_code == 405


def interactions(entry: dict[str, Any]) -> set[str]:
    return {item["code"] for item in entry.get("interaction", [])}


async def test_metadata_is_an_r4_capability_statement_of_this_instance(statement: dict[str, Any]) -> None:
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    assert statement["status"] == "active"
    assert statement["implementation"]["url"] == "http://fhirbridge.test/fhir"
    assert "json" in statement["format"] or "application/fhir+json" in statement["format"]
    assert statement["rest"][0]["mode"] == "server"
    assert "CarePlan" in resources(statement)


async def test_every_listed_resource_type_can_be_built_by_this_test(statement: dict[str, Any]) -> None:
    assert set(resources(statement)) <= set(VALID), "add a builder for the new type to VALID"


async def test_every_listed_interaction_works(client: httpx.AsyncClient, statement: dict[str, Any]) -> None:
    for resource_type, entry in resources(statement).items():
        listed = interactions(entry)
        body = await VALID[resource_type](client)
        assert "create" in listed, resource_type
        created = await create(client, body)
        url = f"/fhir/{resource_type}/{created['id']}"
        checks: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
            "read": lambda url=url: client.get(url),
            "vread": lambda url=url: client.get(f"{url}/_history/1"),
            "update": lambda url=url, created=created: client.put(url, json=dict(created, language="sv-SE")),
            "patch": lambda url=url: client.patch(
                url,
                json=[{"op": "add", "path": "/language", "value": "sv"}],
                headers={"Content-Type": "application/json-patch+json"},
            ),
            "history-instance": lambda url=url: client.get(f"{url}/_history"),
            "history-type": lambda resource_type=resource_type: client.get(f"/fhir/{resource_type}/_history"),
            "search-type": lambda resource_type=resource_type: client.get(f"/fhir/{resource_type}"),
            "delete": lambda url=url: client.delete(url),
        }
        assert listed - {"create"} <= set(checks), f"{resource_type}: untested interactions listed"
        for code in ["read", "vread", "update", "patch", "history-instance", "history-type", "search-type", "delete"]:
            if code in listed:
                response = await checks[code]()
                assert response.status_code in (200, 204), f"{resource_type} {code}: {response.text}"
        if "delete" in listed:
            assert (await client.get(url)).status_code == 410
    system = {item["code"] for item in statement["rest"][0].get("interaction", [])}
    assert system <= {"history-system", "search-system", "transaction", "batch"}, f"untested: {system}"
    if "history-system" in system:
        assert (await client.get("/fhir/_history")).json()["type"] == "history"
    if "search-system" in system:
        found = await client.get("/fhir", params={"_type": ",".join(resources(statement))})
        assert found.status_code == 200 and found.json()["type"] == "searchset", found.text
    for kind in system & {"transaction", "batch"}:
        response = await client.post("/fhir", json=_bundle(kind))
        assert response.status_code == 200, f"{kind}: {response.text}"
        assert response.json()["type"] == f"{kind}-response"
        assert [e["response"]["status"][:3] for e in response.json()["entry"]] == ["201"]


def _bundle(kind: str) -> dict[str, Any]:
    """A one-entry batch or transaction that creates a patient."""
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {
                "fullUrl": "urn:uuid:0c9a8d56-4d2b-4a8e-9a1e-5f3b2c1d0e9f",
                "resource": builders.patient(),
                "request": {"method": "POST", "url": "Patient"},
            }
        ],
    }


async def test_every_listed_search_parameter_is_understood(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    strict = {"Prefer": "handling=strict"}
    for resource_type, entry in resources(statement).items():
        for param in entry.get("searchParam", []):
            tries = [(param["name"], SAMPLE_VALUE[param["type"]])]
            if not param["name"].startswith("_"):
                tries.append((f"{param['name']}:missing", "true"))
            for name, text in tries:
                response = await client.get(f"/fhir/{resource_type}", params={name: text}, headers=strict)
                assert response.status_code == 200, f"{resource_type}?{name}={text}: {response.text}"
                assert response.json()["type"] == "searchset"


async def test_listed_search_parameters_really_filter(client: httpx.AsyncClient, statement: dict[str, Any]) -> None:
    listed = {p["name"] for p in resources(statement)["CarePlan"]["searchParam"]}
    assert {"status", "patient", "identifier"} <= listed
    tolvan, maj = await _patient(client), await _patient(client)
    active = await create(client, builders.care_plan(tolvan, identifier=[builders.contract_identifier("k-1")]))
    draft = await create(client, builders.care_plan(maj, status="draft"))

    async def ids(**params: str) -> list[str]:
        return match_ids((await client.get("/fhir/CarePlan", params=params)).json())

    assert await ids(status="active") == [active["id"]]
    assert await ids(status="draft") == [draft["id"]]
    assert await ids(patient=f"Patient/{maj}") == [draft["id"]]
    assert await ids(identifier=f"{builders.CONTRACT_SYSTEM}|k-1") == [active["id"]]
    assert await ids(identifier=f"{builders.CONTRACT_SYSTEM}|k-2") == []


async def test_claimed_conditional_read_answers_304_for_both_headers(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    assert resources(statement)["Patient"]["conditionalRead"] == "full-support"
    created = await client.post("/fhir/Patient", json=builders.patient())
    url = f"/fhir/Patient/{created.json()['id']}"
    assert (await client.get(url, headers={"If-None-Match": created.headers["etag"]})).status_code == 304
    since = created.headers["last-modified"]
    assert (await client.get(url, headers={"If-Modified-Since": since})).status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert (await client.get(url, headers={"If-Modified-Since": old})).status_code == 200


async def test_claimed_update_create_and_versioned_update_work(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    patient = resources(statement)["Patient"]
    assert patient["updateCreate"] is True
    assert patient["versioning"] == "versioned-update"
    body = dict(builders.patient(), id="pnr-194001022389")
    assert (await client.put("/fhir/Patient/pnr-194001022389", json=body)).status_code == 201
    stale = await client.put("/fhir/Patient/pnr-194001022389", json=body, headers={"If-Match": 'W/"7"'})
    outcome(stale, 412)


async def test_claimed_conditional_delete_single_refuses_several_matches(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    assert resources(statement)["Practitioner"]["conditionalDelete"] == "single"
    await create(client, builders.practitioner())
    await create(client, builders.practitioner())
    outcome(await client.delete("/fhir/Practitioner", params={"identifier": "SE2321000198-P0KL1"}), 412)


async def test_metadata_carries_an_etag(client: httpx.AsyncClient) -> None:
    assert "etag" in (await client.get("/fhir/metadata")).headers


async def test_listed_read_only_types_can_be_searched_by_url_and_read(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    listed = read_only(statement)
    assert {"StructureDefinition", "CodeSystem", "ValueSet", "OperationDefinition"} <= set(listed)
    for resource_type, entry in listed.items():
        assert interactions(entry) == {"read", "search-type"}
        everything = (await client.get(f"/fhir/{resource_type}")).json()
        assert everything["total"] >= 1
        for found in everything["entry"]:
            resource = found["resource"]
            by_url = (await client.get(f"/fhir/{resource_type}", params={"url": resource["url"]})).json()
            assert [e["resource"]["id"] for e in by_url["entry"]] == [resource["id"]]
            read = await client.get(f"/fhir/{resource_type}/{resource['id']}")
            assert read.status_code == 200 and read.json() == resource
        refused = await client.post(f"/fhir/{resource_type}", json={"resourceType": resource_type})
        assert refused.status_code == 405


async def test_a_subscription_is_not_created_by_put_in_development_mode_either(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    """``updateCreate`` false for Subscription holds without a token too: a PUT to a free id is
    405 and stores nothing, and a PUT of one that exists updates it."""
    assert resources(statement)["Subscription"]["updateCreate"] is False
    body = builders.subscription("Patient?gender=male", "https://notify.region.example/fhir")
    refused = await client.put("/fhir/Subscription/chosen-id", json=dict(body, id="chosen-id"))
    outcome(refused, 405)
    assert (await client.get("/fhir/Subscription/chosen-id")).status_code == 404
    created = await client.post("/fhir/Subscription", json=body)
    assert created.status_code == 201, created.text
    stored = created.json()
    updated = await client.put(f"/fhir/Subscription/{stored['id']}", json=dict(stored, reason="changed"))
    assert updated.status_code == 200, updated.text

"""Validation of every write, as a client sees it (R4 json.html, http.html#create, #update).

Each rejection is a 4xx OperationOutcome whose ``issue.expression`` names the element, and a
rejected write leaves no trace: no version, no history entry, no search hit.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import builders
from tests.support.api import create, expressions, history, match_ids, network_client, outcome

Patch = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Patch:
    """Set a dotted path (list indexes as numbers) in a resource."""

    def patch(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = resource
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[int(last) if last.isdigit() else last] = value

    return patch


def _drop(name: str) -> Patch:
    return lambda resource: resource.pop(name)


def _both(*patches: Patch) -> Patch:
    def patch(resource: dict[str, Any]) -> None:
        for each in patches:
            each(resource)

    return patch


PATIENT_CASES: list[tuple[str, Patch, str]] = [
    ("unknown element", _set("favoritfärg", "blå"), "Patient.favoritfärg"),
    ("boolean as string", _set("active", "true"), "Patient.active"),
    ("integer as string", _set("multipleBirthInteger", "2"), "Patient.multipleBirthInteger"),
    ("integer out of range", _set("multipleBirthInteger", 2**31), "Patient.multipleBirthInteger"),
    ("null", _set("gender", None), "Patient.gender"),
    ("null in an array", _set("name.0.given", ["Tolvan", None]), "Patient.name[0].given[1]"),
    ("empty array", _set("name", []), "Patient.name"),
    ("empty object", _set("name", [{}]), "Patient.name[0]"),
    ("empty string", _set("birthDate", ""), "Patient.birthDate"),
    ("object for a repeating element", _set("name", {"family": "Tolvansson"}), "Patient.name"),
    ("array for a single element", _set("gender", ["male"]), "Patient.gender"),
    (
        "two choices of one element",
        _both(_set("multipleBirthInteger", 2), _set("multipleBirthBoolean", True)),
        "Patient.multipleBirthBoolean",
    ),
    ("impossible date", _set("birthDate", "1912-02-30"), "Patient.birthDate"),
    ("gender not in its value set", _set("gender", "man"), "Patient.gender"),
    ("Identifier.use not in its value set", _set("identifier.0.use", "primary"), "Patient.identifier[0].use"),
    (
        "ContactPoint.system not in its value set",
        _set("telecom", [{"system": "mobil", "value": "070-1234567"}]),
        "Patient.telecom[0].system",
    ),
    (
        "reference to the wrong type",
        _set("managingOrganization", {"reference": "Patient/p1"}),
        "Patient.managingOrganization.reference",
    ),
    (
        "malformed reference",
        _set("managingOrganization", {"reference": "Organization/"}),
        "Patient.managingOrganization.reference",
    ),
    (
        "active content in the narrative",
        _set(
            "text",
            {
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>',
            },
        ),
        "Patient.text.div",
    ),
    ("extension without url", _set("extension", [{"valueString": "x"}]), "Patient.extension[0].url"),
]


CARE_PLAN_CASES: list[tuple[str, Patch, str]] = [
    ("status not in its value set", _set("status", "pågående"), "CarePlan.status"),
    ("intent not in its value set", _set("intent", "kontrakt"), "CarePlan.intent"),
    ("required intent missing", _drop("intent"), "CarePlan.intent"),
    ("required status missing", _drop("status"), "CarePlan.status"),
    (
        "subject of a type other than Patient or Group",
        _set("subject", {"reference": "Practitioner/pr1"}),
        "CarePlan.subject.reference",
    ),
    (
        "Reference.type other than Patient or Group",
        _set("subject", {"type": "Practitioner", "display": "Karin"}),
        "CarePlan.subject.type",
    ),
    (
        "activity detail status not in its value set",
        _set("activity", [{"detail": {"status": "pågår", "description": "Promenad"}}]),
        "CarePlan.activity[0].detail.status",
    ),
]


@pytest.fixture
async def patient(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create(client, builders.patient())


@pytest.mark.parametrize(("case", "patch", "expression"), PATIENT_CASES, ids=[c[0] for c in PATIENT_CASES])
async def test_invalid_patient_is_400_naming_the_element(
    client: httpx.AsyncClient, case: str, patch: Patch, expression: str
) -> None:
    body = builders.patient()
    patch(body)
    rejected = outcome(await client.post("/fhir/Patient", json=body), 400)
    assert expression in expressions(rejected), rejected
    assert all(issue["severity"] in ("error", "fatal") for issue in rejected["issue"])
    assert await history(client, "_history") == []


@pytest.mark.parametrize(("case", "patch", "expression"), CARE_PLAN_CASES, ids=[c[0] for c in CARE_PLAN_CASES])
async def test_invalid_care_plan_update_is_400_and_keeps_the_stored_version(
    client: httpx.AsyncClient, patient: dict[str, Any], case: str, patch: Patch, expression: str
) -> None:
    stored = await create(client, builders.care_plan(patient["id"]))
    body = copy.deepcopy(stored)
    patch(body)
    rejected = outcome(await client.put(f"/fhir/CarePlan/{stored['id']}", json=body), 400)
    assert expression in expressions(rejected), rejected
    assert (await client.get(f"/fhir/CarePlan/{stored['id']}")).json() == stored
    assert len(await history(client, f"CarePlan/{stored['id']}/_history")) == 1


async def test_every_problem_is_reported_at_once(client: httpx.AsyncClient) -> None:
    body = dict(builders.patient(), gender="man", active="ja", favoritfärg="blå")
    rejected = outcome(await client.post("/fhir/Patient", json=body), 400)
    assert {"Patient.gender", "Patient.active", "Patient.favoritfärg"} <= set(expressions(rejected))


async def test_a_reference_to_a_missing_local_resource_is_rejected(client: httpx.AsyncClient) -> None:
    rejected = outcome(await client.post("/fhir/CarePlan", json=builders.care_plan("finns-inte")), 422)
    assert expressions(rejected) == ["CarePlan.subject.reference"]
    assert rejected["issue"][0]["code"] == "not-found"
    assert await history(client, "CarePlan/_history") == []


async def test_an_absolute_reference_to_this_server_is_checked_like_a_local_one(client: httpx.AsyncClient) -> None:
    body = builders.care_plan("x", subject={"reference": "http://fhirbridge.test/fhir/Patient/finns-inte"})
    outcome(await client.post("/fhir/CarePlan", json=body), 422)


async def test_a_patient_on_another_server_is_refused(client: httpx.AsyncClient) -> None:
    """Nobody here can tell whose data a plan about another server's patient is (issue 11)."""
    body = builders.care_plan("x", subject={"reference": "https://fhir.region.example/fhir/Patient/4711"})
    rejected = outcome(await client.post("/fhir/CarePlan", json=body), 422)
    assert expressions(rejected) == ["CarePlan.subject.reference"]
    assert await history(client, "CarePlan/_history") == []


async def test_a_reference_to_another_server_that_names_no_patient_is_accepted_as_is(
    client: httpx.AsyncClient, patient: dict
) -> None:
    elsewhere = "https://fhir.region.example/fhir/Practitioner/4711"
    body = builders.care_plan(
        patient["id"], activity=[{"detail": {"status": "scheduled", "performer": [{"reference": elsewhere}]}}]
    )
    created = await client.post("/fhir/CarePlan", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["activity"][0]["detail"]["performer"][0]["reference"] == elsewhere


async def test_a_reference_to_a_deleted_resource_is_rejected(client: httpx.AsyncClient, patient: dict) -> None:
    assert (await client.delete(f"/fhir/Patient/{patient['id']}")).status_code == 204
    outcome(await client.post("/fhir/CarePlan", json=builders.care_plan(patient["id"])), 422)


async def test_a_reference_to_a_missing_version_is_rejected(client: httpx.AsyncClient, patient: dict) -> None:
    body = builders.care_plan(patient["id"], subject={"reference": f"Patient/{patient['id']}/_history/9"})
    rejected = outcome(await client.post("/fhir/CarePlan", json=body), 422)
    assert expressions(rejected) == ["CarePlan.subject.reference"]


async def test_a_logical_reference_by_identifier_is_resolved_to_the_patient(
    client: httpx.AsyncClient, patient: dict
) -> None:
    subject = {"identifier": patient["identifier"][0], "display": "Tolvan Tolvansson"}
    created = await client.post("/fhir/CarePlan", json=builders.care_plan("x", subject=subject))
    assert created.status_code == 201, created.text
    assert created.json()["subject"] == {"reference": f"Patient/{patient['id']}", **subject}


async def test_a_conditional_reference_outside_a_transaction_is_rejected(client: httpx.AsyncClient) -> None:
    """R4 http.html#trules: search URIs in references are for transactions, and only for them."""
    body = dict(builders.patient(), managingOrganization={"reference": "Organization?identifier=SE2321000198-E1"})
    response = await client.post("/fhir/Patient", json=body)
    assert response.status_code in (400, 422), response.text
    assert "Patient.managingOrganization.reference" in expressions(outcome(response, response.status_code))
    assert await history(client, "_history") == []


async def test_resource_type_must_match_the_url(client: httpx.AsyncClient, patient: dict) -> None:
    for response in (
        await client.post("/fhir/Patient", json=builders.practitioner()),
        await client.put(f"/fhir/Practitioner/{patient['id']}", json=patient),
    ):
        assert "resourceType" in str(expressions(outcome(response, 400)))
    missing = {k: v for k, v in builders.patient().items() if k != "resourceType"}
    outcome(await client.post("/fhir/Patient", json=missing), 400)
    assert len(await history(client, "_history")) == 1


async def test_update_needs_the_id_of_the_url_in_the_body(client: httpx.AsyncClient, patient: dict) -> None:
    url = f"/fhir/Patient/{patient['id']}"
    no_id = {k: v for k, v in patient.items() if k != "id"}
    assert expressions(outcome(await client.put(url, json=no_id), 400)) == ["Patient.id"]
    assert expressions(outcome(await client.put(url, json=dict(patient, id="annan")), 400)) == ["Patient.id"]
    assert (await client.get(url)).json()["meta"]["versionId"] == "1"


async def test_create_sets_id_and_meta_whatever_the_client_sends(client: httpx.AsyncClient) -> None:
    body = dict(
        builders.patient(),
        id="klientens-id",
        meta={"versionId": "42", "lastUpdated": "2001-01-01T00:00:00Z", "profile": ["http://example.org/p"]},
    )
    created = await create(client, body)
    assert created["id"] != "klientens-id"
    assert created["meta"]["versionId"] == "1"
    assert not created["meta"]["lastUpdated"].startswith("2001")
    assert created["meta"]["profile"] == ["http://example.org/p"]


async def test_update_ignores_the_client_version_and_last_updated(client: httpx.AsyncClient, patient: dict) -> None:
    body = dict(patient, gender="female", meta={"versionId": "42", "lastUpdated": "2001-01-01T00:00:00Z"})
    updated = (await client.put(f"/fhir/Patient/{patient['id']}", json=body)).json()
    assert updated["meta"]["versionId"] == "2"
    assert not updated["meta"]["lastUpdated"].startswith("2001")


async def test_a_rejected_write_leaves_search_untouched(client: httpx.AsyncClient, patient: dict) -> None:
    number = patient["identifier"][0]["value"]
    changed = dict(patient, name=[{"family": "Svensson"}], gender="man")
    outcome(await client.put(f"/fhir/Patient/{patient['id']}", json=changed), 400)
    assert match_ids((await client.get("/fhir/Patient", params={"family": "Svensson"})).json()) == []
    assert match_ids((await client.get("/fhir/Patient", params={"identifier": number})).json()) == [patient["id"]]


async def test_a_far_future_date_is_not_a_server_fault(app: FastAPI) -> None:
    """9999-12-31 is a FHIR date; journal systems use it for 'until further notice'."""
    async with network_client(app) as client:
        patient = await create(client, builders.patient())
        body = builders.care_plan(patient["id"], period={"start": "2026-01-01", "end": "9999-12-31"})
        response = await client.post("/fhir/CarePlan", json=body)
        assert response.status_code < 500, response.text


async def test_decimal_precision_is_kept(client: httpx.AsyncClient, patient: dict) -> None:
    goal = dict(builders.goal(patient["id"]), target=[{"detailQuantity": {"value": 0, "unit": "km"}}])
    raw = json.dumps(goal).replace('"value": 0', '"value": 0.010')
    response = await client.post("/fhir/Goal", content=raw, headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201
    read = await client.get(f"/fhir/Goal/{response.json()['id']}")
    assert b'"value":0.010' in read.content.replace(b" ", b"")

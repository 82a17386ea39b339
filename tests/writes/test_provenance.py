"""Every change to a contract, care team or goal records a Provenance (issue 4; R4 http.html#provenance).

The client names itself with ``X-Provenance`` until authentication exists; the server sets
``target`` to the versions written and stores the Provenance in the same transaction.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fhirbridge.writes.provenance import UNAUTHENTICATED
from tests.support import builders
from tests.support.api import create, expressions, history, outcome

PATIENT_URN = "urn:uuid:0b6f3c1e-6a8e-4f0e-9a43-0d1c5f0e6a01"
GOAL_URN = "urn:uuid:0b6f3c1e-6a8e-4f0e-9a43-0d1c5f0e6a02"


async def _provenances(client: httpx.AsyncClient, target: str) -> list[dict[str, Any]]:
    bundle = (await client.get("/fhir/Provenance", params={"target": target, "_sort": "_lastUpdated"})).json()
    return [entry["resource"] for entry in bundle.get("entry", [])]


@pytest.fixture
async def author(client: httpx.AsyncClient) -> dict[str, Any]:
    """Anna Berg's role at Hälsocentralen Sandviken, as an X-Provenance header names her."""
    unit = await create(client, builders.organization())
    person = await create(client, builders.practitioner())
    role = await create(client, builders.practitioner_role(person["id"], unit["id"]))
    header = {
        "resourceType": "Provenance",
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "author",
                        }
                    ]
                },
                "who": {"reference": f"PractitionerRole/{role['id']}", "display": "Anna Berg"},
                "onBehalfOf": {"reference": f"Organization/{unit['id']}"},
            }
        ],
        "activity": {"text": "Revision vid återbesök"},
        "reason": [{"text": "Nytt mål efter utskrivning"}],
    }
    # Raw UTF-8 in the header, as clients send it (åter…, Sandviken's å).
    return {"role": role, "unit": unit, "header": json.dumps(header, ensure_ascii=False).encode()}


async def test_a_contract_write_without_x_provenance_is_recorded_as_unauthenticated(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    plan = await create(client, builders.care_plan(patient["id"]))
    [provenance] = await _provenances(client, f"CarePlan/{plan['id']}")
    assert provenance["target"] == [{"reference": f"CarePlan/{plan['id']}/_history/1"}]
    assert provenance["agent"][0]["who"] == {"display": UNAUTHENTICATED}
    assert provenance["activity"]["coding"][0]["code"] == "CREATE"
    assert await _provenances(client, f"Patient/{patient['id']}") == []  # a Patient is not tracked by default


async def test_x_provenance_names_who_for_which_unit_and_the_version(
    client: httpx.AsyncClient, author: dict[str, Any]
) -> None:
    patient = await create(client, builders.patient())
    plan = await create(client, builders.care_plan(patient["id"]))
    plan["description"] = "Reviderad efter återbesök"
    response = await client.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers={"X-Provenance": author["header"]})
    assert response.status_code == 200, response.text
    first, second = await _provenances(client, f"CarePlan/{plan['id']}")
    assert second["target"] == [{"reference": f"CarePlan/{plan['id']}/_history/2"}]
    assert second["agent"][0]["who"]["reference"] == f"PractitionerRole/{author['role']['id']}"
    assert second["agent"][0]["onBehalfOf"]["reference"] == f"Organization/{author['unit']['id']}"
    assert second["activity"] == {"text": "Revision vid återbesök"}
    assert second["reason"] == [{"text": "Nytt mål efter utskrivning"}]
    assert first["target"][0]["reference"].endswith("/_history/1")


async def test_with_x_provenance_every_written_resource_is_a_target(
    client: httpx.AsyncClient, author: dict[str, Any]
) -> None:
    response = await client.post("/fhir/Patient", json=builders.patient(), headers={"X-Provenance": author["header"]})
    patient = response.json()
    [provenance] = await _provenances(client, f"Patient/{patient['id']}")
    assert provenance["target"] == [{"reference": f"Patient/{patient['id']}/_history/1"}]


async def test_a_transaction_records_one_provenance_for_its_contract(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": PATIENT_URN, "resource": builders.patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "fullUrl": GOAL_URN,
                "resource": dict(
                    builders.goal("x"), subject={"reference": PATIENT_URN}, expressedBy={"reference": PATIENT_URN}
                ),
                "request": {"method": "POST", "url": "Goal"},
            },
            {
                "resource": dict(
                    builders.care_plan("x"), subject={"reference": PATIENT_URN}, goal=[{"reference": GOAL_URN}]
                ),
                "request": {"method": "POST", "url": "CarePlan"},
            },
        ],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    provenances = await history(client, "Provenance/_history")
    assert len(provenances) == 1
    targets = [t["reference"].split("/")[0] for t in provenances[0]["resource"]["target"]]
    assert sorted(targets) == ["CarePlan", "Goal"]


async def test_deleting_a_contract_is_recorded_and_allowed(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    plan = await create(client, builders.care_plan(patient["id"]))
    assert (await client.delete(f"/fhir/CarePlan/{plan['id']}")).status_code in (200, 204)
    provenances = await _provenances(client, f"CarePlan/{plan['id']}")
    assert [p["activity"]["coding"][0]["code"] for p in provenances] == ["CREATE", "DELETE"]
    assert provenances[1]["target"] == [{"reference": f"CarePlan/{plan['id']}/_history/2"}]


@pytest.mark.parametrize(
    ("header", "expression"),
    [
        ("{inte json", "X-Provenance"),
        ('{"resourceType": "Patient"}', "X-Provenance"),
        ('{"resourceType": "Provenance", "target": [{"reference": "Patient/1"}], "agent": []}', "Provenance.target"),
        (
            '{"resourceType": "Provenance", "agent": [{"who": {"reference": "Goal/1"}}]}',
            "Provenance.agent[0].who.reference",
        ),
    ],
)
async def test_a_bad_x_provenance_is_400_and_nothing_is_written(
    client: httpx.AsyncClient, header: str, expression: str
) -> None:
    rejected = outcome(
        await client.post("/fhir/Patient", json=builders.patient(), headers={"X-Provenance": header}), 400
    )
    assert expression in expressions(rejected)
    assert await history(client, "_history") == []


async def test_an_x_provenance_naming_an_unknown_author_is_422_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    header = json.dumps(
        {"resourceType": "Provenance", "agent": [{"who": {"reference": "PractitionerRole/finns-inte"}}]}
    )
    response = await client.post("/fhir/Patient", json=builders.patient(), headers={"X-Provenance": header})
    assert response.status_code == 422, response.text
    assert await history(client, "_history") == []


async def test_an_author_named_in_x_provenance_can_later_be_deleted(
    client: httpx.AsyncClient, author: dict[str, Any]
) -> None:
    patient = await create(client, builders.patient())
    response = await client.post(
        "/fhir/Goal", json=builders.goal(patient["id"]), headers={"X-Provenance": author["header"]}
    )
    assert response.status_code == 201
    assert (await client.delete(f"/fhir/PractitionerRole/{author['role']['id']}")).status_code in (200, 204)


async def test_an_unknown_author_is_reported_at_the_x_provenance_header(client: httpx.AsyncClient) -> None:
    header = json.dumps(
        {"resourceType": "Provenance", "agent": [{"who": {"reference": "PractitionerRole/finns-inte"}}]}
    )
    patient = await create(client, builders.patient())
    response = await client.post("/fhir/Goal", json=builders.goal(patient["id"]), headers={"X-Provenance": header})
    assert response.status_code == 422
    assert expressions(response.json()) == ["X-Provenance.agent[0].who.reference"]


async def test_x_provenance_is_ignored_by_searches(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient/_search", headers={"X-Provenance": "{inte json"})
    assert response.status_code == 200

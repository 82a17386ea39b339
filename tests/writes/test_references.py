"""The reference rule of the write path (writes/references.py): what a client sees stored, or
refused, when it names a patient or a member of the care network in forms other than ``Type/id``."""

from __future__ import annotations

import httpx

from fhirbridge.sweden.identifiers import HSA_SYSTEM, PERSONNUMMER_SYSTEM
from tests.support import builders
from tests.support.api import BASE, create, expressions, history, outcome


async def test_a_care_team_member_by_hsa_id_becomes_the_practitioner(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    karin = await create(client, builders.practitioner("SE2321000198-P0KL1"))
    team = dict(
        builders.care_team(patient["id"], "x"),
        participant=[{"member": {"identifier": {"system": HSA_SYSTEM, "value": "SE2321000198-P0KL1"}}}],
    )
    created = await create(client, team)
    member = created["participant"][0]["member"]
    assert member == {
        "reference": f"Practitioner/{karin['id']}",
        "identifier": team["participant"][0]["member"]["identifier"],
    }


async def test_an_hsa_id_nobody_here_carries_is_kept_and_two_carriers_are_ambiguous(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    elsewhere = {"identifier": {"system": HSA_SYSTEM, "value": "SE2321000198-ELSEW"}}
    team = dict(builders.care_team(patient["id"], "x"), participant=[{"member": elsewhere}])
    assert (await create(client, team))["participant"][0]["member"] == elsewhere
    await create(client, builders.practitioner("SE2321000198-TWICE"))
    await create(client, builders.organization("SE2321000198-TWICE", "Samma HSA-id"))
    twice = {"identifier": {"system": HSA_SYSTEM, "value": "SE2321000198-TWICE"}}
    refused = outcome(await client.post("/fhir/CareTeam", json=dict(team, participant=[{"member": twice}])), 422)
    assert expressions(refused) == ["CareTeam.participant[0].member"]
    assert refused["issue"][0]["code"] == "multiple-matches"


async def test_references_to_this_server_by_absolute_url_are_stored_relative(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    unit = await create(client, builders.organization())
    team = dict(
        builders.care_team(patient["id"], "x"),
        subject={"reference": f"{BASE}/fhir/Patient/{patient['id']}"},
        managingOrganization=[{"reference": f"{BASE}/fhir/Organization/{unit['id']}"}],
        participant=[],
    )
    del team["participant"]
    created = await create(client, team)
    assert created["subject"] == {"reference": f"Patient/{patient['id']}"}
    assert created["managingOrganization"] == [{"reference": f"Organization/{unit['id']}"}]
    found = await client.get("/fhir/CareTeam", params={"subject": f"Patient/{patient['id']}"})
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [created["id"]]


async def test_a_patient_link_that_names_nobody_known_is_refused(client: httpx.AsyncClient) -> None:
    practitioner = await create(client, builders.practitioner())
    unknown = {"identifier": {"system": "urn:oid:1.2.752.129.2.1.4.1", "value": "4711"}}
    body = builders.appointment("x", practitioner["id"])
    body["participant"][0]["actor"] = unknown
    refused = outcome(await client.post("/fhir/Appointment", json=body), 422)
    assert expressions(refused) == ["Appointment.participant[0].actor.identifier"]
    typed = dict(body, participant=[{"actor": {"type": "Practitioner", **unknown}, "status": "accepted"}])
    assert (await client.post("/fhir/Appointment", json=typed)).status_code == 201  # not a patient: kept


async def test_a_personnummer_names_a_person_and_a_contained_patient_is_refused(client: httpx.AsyncClient) -> None:
    patient = await create(client, builders.patient())
    number = next(i for i in patient["identifier"] if i["system"] == PERSONNUMMER_SYSTEM)
    as_group = builders.care_plan("x", subject={"type": "Group", "identifier": number})
    assert expressions(outcome(await client.post("/fhir/CarePlan", json=as_group), 422)) == ["CarePlan.subject.type"]
    contained = dict(
        builders.practitioner(),
        contained=[dict(builders.patient(), id="p")],
    )
    refused = outcome(await client.post("/fhir/Practitioner", json=contained), 422)
    assert expressions(refused) == ["Practitioner.contained[0]"]
    assert await history(client, "CarePlan/_history") == []
    assert len(await history(client, "Practitioner/_history")) == 0


async def test_an_identifier_resolved_in_an_update_keeps_the_version_when_nothing_changed(
    client: httpx.AsyncClient,
) -> None:
    patient = await create(client, builders.patient())
    number = next(i for i in patient["identifier"] if i["system"] == PERSONNUMMER_SYSTEM)
    plan = await create(client, builders.care_plan("x", subject={"identifier": number}))
    again = dict(builders.care_plan("x", subject={"identifier": number}), id=plan["id"])
    response = await client.put(f"/fhir/CarePlan/{plan['id']}", json=again)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "1"

"""Patient/$merge: an unidentified patient (reserve number) identified later as a Patient that
already exists.  The contract, its care team with the fixed care contact and its goals move to
the surviving Patient in one transaction (new versions, a Provenance saying why); the old record
stays readable as replaced; numbers and new writes follow the person; a merge that would break a
rule changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lxml import etree

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES, GOAL_KIND_SYSTEM, GOAL_KINDS, concept
from fhirbridge.patients.check import UnfinishedLink, check_identities
from fhirbridge.patients.identity import IdentitySystems
from fhirbridge.patients.merge import LIFECYCLE
from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM, RESERVNUMMER_SYSTEM
from tests.adapters import test_get_care_managers as care_managers
from tests.adapters import test_get_care_plans as care_plans
from tests.support import builders
from tests.support.api import create, expressions, history, match_ids, outcome, write_as_before
from tests.support.contracts import contract

RESERVE = "98240301AA06"
RESERVE_OID = "1.2.752.74.9.1"
"""The national reserve number in RIV-TA (Inera's OID list)."""


async def merge(client: httpx.AsyncClient, source: str, target: str) -> httpx.Response:
    return await client.post("/fhir/Patient/$merge", json=builders.merge_parameters(source, target))


def fixed_contact(role_id: str, display: str) -> dict[str, Any]:
    return {
        "role": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, "fast-vardkontakt")],
        "member": {"reference": f"PractitionerRole/{role_id}", "display": display},
    }


async def records_of(client: httpx.AsyncClient, patient_id: str, role_id: str) -> dict[str, Any]:
    """A care team with a fixed care contact, the patient's goal and their contract."""
    team = await create(
        client,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{patient_id}"},
            "participant": [fixed_contact(role_id, "Karin Lind")],
        },
    )
    goal = await create(
        client,
        dict(builders.goal(patient_id), category=[concept(GOAL_KIND_SYSTEM, GOAL_KINDS, "vad-ar-viktigt")]),
    )
    plan = await create(client, contract(patient_id, team["id"], goal["id"], f"PractitionerRole/{role_id}"))
    return {"team": team, "goal": goal, "plan": plan}


@pytest.fixture
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """Karin Lind at a unit; a patient registered with a reserve number, with a contract; and the
    same person's Patient by personnummer, without one."""
    unit = await create(client, builders.organization())
    karin = await create(client, builders.practitioner())
    role = await create(client, builders.practitioner_role(karin["id"], unit["id"]))
    unknown = await create(
        client, dict(builders.patient(), identifier=[{"system": RESERVNUMMER_SYSTEM, "value": RESERVE}])
    )
    known = await create(client, builders.patient())
    return {
        "unit": unit,
        "karin": karin,
        "role": role,
        "unknown": unknown,
        "known": known,
        **await records_of(client, unknown["id"], role["id"]),
    }


async def test_the_contract_moves_to_the_identified_patient(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    old, new = world["unknown"]["id"], world["known"]["id"]
    response = await merge(client, old, new)
    assert response.status_code == 200, response.text
    answer = {p["name"]: p["resource"] for p in response.json()["parameter"]}
    assert answer["input"] == builders.merge_parameters(old, new)
    result = answer["result"]
    assert {"system": RESERVNUMMER_SYSTEM, "value": RESERVE, "use": "old"} in result["identifier"]
    assert {"other": {"reference": f"Patient/{old}"}, "type": "replaces"} in result["link"]
    moved = " ".join(issue["diagnostics"] for issue in answer["outcome"]["issue"])
    for kind in ("team", "goal", "plan"):
        resource = world[kind]
        assert f"{resource['resourceType']}/{resource['id']}" in moved
        current = (await client.get(f"/fhir/{resource['resourceType']}/{resource['id']}")).json()
        assert current["meta"]["versionId"] == "2"
        assert current["subject"] == {"reference": f"Patient/{new}"}
    plan = (await client.get(f"/fhir/CarePlan/{world['plan']['id']}")).json()
    assert plan["activity"][0]["detail"]["performer"] == [{"reference": f"Patient/{new}"}]
    # The old record stays readable, as replaced, and its history keeps what it said.
    replaced = (await client.get(f"/fhir/Patient/{old}")).json()
    assert replaced["active"] is False
    assert replaced["link"] == [{"other": {"reference": f"Patient/{new}"}, "type": "replaced-by"}]
    assert "identifier" not in replaced
    versions = await history(client, f"Patient/{old}/_history")
    assert versions[-1]["resource"]["identifier"][0]["value"] == RESERVE
    # One Provenance says why, and names every version written.
    bundle = await client.get("/fhir/Provenance", params={"entity": f"Patient/{old}"})
    [merged] = [e["resource"] for e in bundle.json()["entry"]]
    assert merged["activity"]["coding"][0] == {
        "system": LIFECYCLE,
        "code": "merge",
        "display": "Merge Record Lifecycle Event",
    }
    assert "same person" in merged["reason"][0]["text"]
    targets = {t["reference"] for t in merged["target"]}
    assert f"CarePlan/{world['plan']['id']}/_history/2" in targets
    assert f"Patient/{old}/_history/2" in targets and f"Patient/{new}/_history/2" in targets
    # The fixed care contact is the person's, under either record.
    for patient_id in (old, new):
        contacts = (await client.get(f"/fhir/Patient/{patient_id}/$fixed-contacts")).json()
        assert "Karin Lind" in str(contacts)


async def test_numbers_and_new_writes_follow_the_person(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    old, new = world["unknown"]["id"], world["known"]["id"]
    assert (await merge(client, old, new)).status_code == 200
    search = await client.get("/fhir/Patient", params={"identifier": f"{RESERVNUMMER_SYSTEM}|{RESERVE}"})
    assert match_ids(search.json()) == [new]
    again = dict(builders.patient(), identifier=[{"system": RESERVNUMMER_SYSTEM, "value": RESERVE}])
    body = outcome(await client.post("/fhir/Patient", json=again), 409)
    assert f"Patient/{new} already holds national reserve number {RESERVE}" in body["issue"][0]["diagnostics"]
    late = outcome(await client.post("/fhir/Goal", json=builders.goal(old)), 422)
    assert f"Patient/{old} is replaced by Patient/{new}" in late["issue"][0]["diagnostics"]
    assert expressions(late) == ["Goal.subject.reference", "Goal.expressedBy.reference"]
    replaced = (await client.get(f"/fhir/Patient/{old}")).json()
    del replaced["link"]
    unlinked = outcome(await client.put(f"/fhir/Patient/{old}", json=dict(replaced, active=True)), 422)
    assert "stays replaced" in unlinked["issue"][0]["diagnostics"]
    # A merge done again changes nothing.
    repeat = await merge(client, old, new)
    assert repeat.status_code == 200
    assert (await client.get(f"/fhir/Patient/{new}")).json()["meta"]["versionId"] == "2"


async def test_two_fixed_care_contacts_refuse_the_merge_and_change_nothing(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    old, new = world["unknown"]["id"], world["known"]["id"]
    bo = await create(client, builders.practitioner("SE2321000198-BO001", "Ek", "Bo"))
    bo_role = await create(client, builders.practitioner_role(bo["id"], world["unit"]["id"]))
    await create(
        client,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{new}"},
            "participant": [fixed_contact(bo_role["id"], "Bo Ek")],
        },
    )
    body = outcome(await merge(client, old, new), 409)
    said = " ".join(issue["diagnostics"] for issue in body["issue"])
    assert f"Patient/{old} was not merged into Patient/{new}: nothing was changed" in said
    assert "Bo Ek" in said and "Karin Lind" in said
    assert (await client.get(f"/fhir/Patient/{old}")).json()["meta"]["versionId"] == "1"
    assert (await client.get(f"/fhir/CareTeam/{world['team']['id']}")).json()["meta"]["versionId"] == "1"


async def test_the_same_fixed_care_contact_in_both_records_is_one_assignment(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    old, new = world["unknown"]["id"], world["known"]["id"]
    await records_of(client, new, world["role"]["id"])
    assert (await merge(client, old, new)).status_code == 200


async def test_two_personnummer_are_two_people(client: httpx.AsyncClient) -> None:
    one, two = await create(client, builders.patient()), await create(client, builders.patient())
    body = outcome(await merge(client, one["id"], two["id"]), 422)
    assert "they are two people" in " ".join(issue["diagnostics"] for issue in body["issue"])


async def test_patients_named_by_their_numbers(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    number = world["known"]["identifier"][0]["value"]
    response = await client.post(
        "/fhir/Patient/$merge",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "source-patient-identifier",
                    "valueIdentifier": {"system": RESERVNUMMER_SYSTEM, "value": RESERVE},
                },
                {
                    "name": "target-patient-identifier",
                    "valueIdentifier": {"system": PERSONNUMMER_SYSTEM, "value": number},
                },
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert (await client.get(f"/fhir/Patient/{world['unknown']['id']}")).json()["active"] is False


async def test_a_wrong_link_is_corrected_by_a_new_one(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    old, wrong = world["unknown"]["id"], world["known"]["id"]
    right = (await create(client, builders.patient()))["id"]
    assert (await merge(client, old, wrong)).status_code == 200
    response = await merge(client, old, right)
    assert response.status_code == 200, response.text
    for kind in ("team", "goal", "plan"):
        resource = (await client.get(f"/fhir/{world[kind]['resourceType']}/{world[kind]['id']}")).json()
        assert resource["subject"] == {"reference": f"Patient/{right}"}
    mistaken = (await client.get(f"/fhir/Patient/{wrong}")).json()
    assert "link" not in mistaken
    assert [i["system"] for i in mistaken["identifier"]] == [PERSONNUMMER_SYSTEM]
    corrected = (await client.get(f"/fhir/Patient/{right}")).json()
    assert {"other": {"reference": f"Patient/{old}"}, "type": "replaces"} in corrected["link"]
    assert RESERVE in [i["value"] for i in corrected["identifier"]]
    bundle = (await client.get("/fhir/Provenance", params={"entity": f"Patient/{old}"})).json()
    reasons = sorted(e["resource"]["reason"][-1]["text"] for e in bundle["entry"])
    assert any("by mistake" in reason for reason in reasons)


async def test_what_a_merge_needs(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    old = world["unknown"]["id"]
    assert (await client.post("/fhir/Patient/$merge", json={"resourceType": "Parameters"})).status_code == 400
    outcome(await merge(client, old, old), 422)
    outcome(await merge(client, old, "nobody"), 404)
    inactive = await create(client, dict(builders.patient(), active=False))
    assert "must be active" in outcome(await merge(client, old, inactive["id"]), 422)["issue"][1]["diagnostics"]
    preview = builders.merge_parameters(old, world["known"]["id"])
    preview["parameter"].append({"name": "preview", "valueBoolean": True})
    outcome(await client.post("/fhir/Patient/$merge", json=preview), 400)


async def test_npo_answers_for_the_person_under_either_number(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    number = world["known"]["identifier"][0]["value"]
    assert (await merge(client, world["unknown"]["id"], world["known"]["id"])).status_code == 200
    plans_schema = etree.XMLSchema(etree.parse(str(care_plans.RESPONDER_XSD)))
    managers_schema = etree.XMLSchema(etree.parse(str(care_managers.RESPONDER_XSD)))
    for value, oid in ((RESERVE, RESERVE_OID), (number, care_plans.PNR_OID)):
        response = await client.post(care_plans.PATH, content=care_plans.request(value, oid))
        answer = care_plans._answer(response, plans_schema)
        titles = [
            p.findtext(f"{care_plans.C}carePlanHeader/{care_plans.C}documentTitle")
            for p in answer.findall(f"{care_plans.R}carePlan")
        ]
        assert titles == [world["plan"]["title"]], (value, titles)
        response = await client.post(care_managers.PATH, content=care_managers.request(oid, value))
        managers = care_managers._answer(response, managers_schema)
        assert "Lind" in etree.tostring(managers).decode(), value


async def test_a_link_made_by_hand_is_completed_by_merging(
    app: FastAPI, client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    """Before this version a client could link Patients without moving anything (the migration
    asks for it); merging the same pair moves what still refers to the replaced one."""
    old, new = world["unknown"], world["known"]
    linked = dict(old, active=False, link=[{"other": {"reference": f"Patient/{new['id']}"}, "type": "replaced-by"}])

    database = app.state.context.repository.database
    await write_as_before(database, linked)
    outcome(await client.post("/fhir/Goal", json=builders.goal(old["id"])), 422)
    report = await check_identities(database, IdentitySystems())
    assert report.unfinished == [UnfinishedLink(old["id"], new["id"], 4)]  # team, goal, plan, the signal
    response = await merge(client, old["id"], new["id"])
    assert response.status_code == 200, response.text
    assert (await check_identities(database, IdentitySystems())).clean
    team = (await client.get(f"/fhir/CareTeam/{world['team']['id']}")).json()
    assert team["subject"] == {"reference": f"Patient/{new['id']}"}
    survivor = (await client.get(f"/fhir/Patient/{new['id']}")).json()
    assert {"other": {"reference": f"Patient/{old['id']}"}, "type": "replaces"} in survivor["link"]
    assert RESERVE in [i["value"] for i in survivor["identifier"]]


async def test_the_capability_statement_says_what_merge_is(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    [listed] = [op for op in patient["operation"] if op["name"] == "merge"]
    definition = (await client.get("/fhir/OperationDefinition/Patient-merge")).json()
    assert listed["definition"] == definition["url"]
    assert definition["type"] is True and definition["instance"] is False
    names = {p["name"] for p in definition["parameter"]}
    assert names == {
        "source-patient",
        "source-patient-identifier",
        "target-patient",
        "target-patient-identifier",
        "input",
        "outcome",
        "result",
    }


async def test_writes_racing_a_merge_move_with_it_or_are_refused(
    app: FastAPI, client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    """The merge locks the source for update, and a write that refers to a Patient waits for
    that lock: nothing is left behind on the replaced record."""
    old, new = world["unknown"]["id"], world["known"]["id"]
    goal = builders.goal(old)
    results = await asyncio.gather(
        *(client.post("/fhir/Goal", json=goal) for _ in range(5)),
        merge(client, old, new),
        *(client.post("/fhir/Goal", json=goal) for _ in range(5)),
    )
    merged, written = results[5], [*results[:5], *results[6:]]
    assert merged.status_code == 200, merged.text
    assert {r.status_code for r in written} <= {201, 422}
    assert (await check_identities(app.state.context.repository.database, IdentitySystems())).clean
    for response in written:
        if response.status_code == 201:
            goal = (await client.get(f"/fhir/Goal/{response.json()['id']}")).json()
            assert goal["subject"] == {"reference": f"Patient/{new}"}

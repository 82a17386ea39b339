"""``QuestionnaireResponse/{id}/$extract``: a draft contract from the contract conversation
(issue 13.3) that, completed by a clinician, is posted as it is and passes the contract profile."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from fhirbridge.conformance.validator import CONTRACT_PROFILE, validate_profiles
from fhirbridge.contract.codes import AMBITION_LEVEL_EXTENSION, CARE_ROLE_SYSTEM, GOAL_KIND_SYSTEM
from tests.support import builders
from tests.support.api import create, expressions, outcome, system_history_mark
from tests.support.contracts import contract_activities


async def extract(client: httpx.AsyncClient, response_id: str, method: str = "GET") -> httpx.Response:
    return await client.request(method, f"/fhir/QuestionnaireResponse/{response_id}/$extract")


def by_type(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def complete(bundle: dict[str, Any], author: str) -> dict[str, Any]:
    """What the clinician adds: the author, care's part, whom to contact, the agreed next time."""
    completed = copy.deepcopy(bundle)
    plan = by_type(completed, "CarePlan")[0]["resource"]
    plan["author"] = {"reference": author}
    plan["activity"] += contract_activities(plan["subject"]["reference"], author)[1:]  # all but the own part
    return completed


async def test_the_draft_holds_the_goals_the_own_part_and_the_proposed_fixed_contact(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    patient = f"Patient/{people['patient']}"
    stored = await create(
        client,
        builders.conversation_answers(people["patient"], people["role"], unit_id=people["unit"], person=people["role"]),
    )
    before = await system_history_mark(client)
    answer = await extract(client, stored["id"])
    assert answer.status_code == 200, answer.text
    assert await system_history_mark(client) == before  # nothing written
    bundle = answer.json()
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "transaction")
    assert all(e["fullUrl"].startswith("urn:uuid:") and e["request"]["method"] == "POST" for e in bundle["entry"])
    goals = {g["resource"]["category"][0]["coding"][0]["code"]: g for g in by_type(bundle, "Goal")}
    assert {c["system"] for g in goals.values() for c in g["resource"]["category"][0]["coding"]} == {GOAL_KIND_SYSTEM}
    assert goals["vad-ar-viktigt"]["resource"]["description"]["text"].startswith("Att kunna gå till affären")
    shared = goals["gemensamt-mal"]["resource"]
    assert shared["extension"][0]["url"] == AMBITION_LEVEL_EXTENSION
    assert shared["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "balanserad"
    assert all(g["resource"]["expressedBy"] == {"reference": patient} for g in goals.values())
    [team] = by_type(bundle, "CareTeam")
    assert team["resource"]["status"] == "proposed"
    [member] = team["resource"]["participant"]
    assert member["role"][0]["coding"][0] == {
        "system": CARE_ROLE_SYSTEM,
        "code": "fast-vardkontakt",
        "display": "Fast vårdkontakt",
    }
    assert member["member"] == {"reference": people["role"]}
    assert member["onBehalfOf"] == {"reference": f"Organization/{people['unit']}"}
    [plan] = by_type(bundle, "CarePlan")
    draft = plan["resource"]
    assert (draft["status"], draft["intent"], draft["subject"]) == ("draft", "plan", {"reference": patient})
    assert draft["category"][0]["coding"][0]["code"] == "patientkontrakt"
    assert {g["reference"] for g in draft["goal"]} == {g["fullUrl"] for g in goals.values()}
    assert draft["careTeam"] == [{"reference": team["fullUrl"]}]
    [own_part] = draft["activity"]
    assert own_part["detail"]["code"]["coding"][0]["code"] == "egen-insats"
    assert own_part["detail"]["performer"] == [{"reference": patient}]
    posted = (await extract(client, stored["id"], "POST")).json()["entry"][-1]["resource"]
    assert {k: v for k, v in posted.items() if k not in ("goal", "careTeam")} == {
        k: v for k, v in draft.items() if k not in ("goal", "careTeam")
    }


async def test_the_completed_draft_is_posted_whole_and_passes_the_contract_profile(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    stored = await create(
        client,
        builders.conversation_answers(people["patient"], people["role"], unit_id=people["unit"], person=people["role"]),
    )
    bundle = complete((await extract(client, stored["id"])).json(), people["role"])
    posted = await client.post("/fhir", json=bundle)
    assert posted.status_code == 200, posted.text
    statuses = [e["response"]["status"] for e in posted.json()["entry"]]
    assert statuses and all(s.startswith("201") for s in statuses), statuses
    location = posted.json()["entry"][-1]["response"]["location"]
    plan = (await client.get("/fhir/" + location.split("/_history")[0])).json()
    assert plan["resourceType"] == "CarePlan" and plan["status"] == "draft"
    assert not [i for i in validate_profiles(plan, [CONTRACT_PROFILE]) if i.severity == "error"]
    checked = await client.get(f"/fhir/CarePlan/{plan['id']}/$validate")
    assert [i["severity"] for i in checked.json()["issue"]] == ["information"], checked.text


async def test_without_a_wish_for_coordination_the_clinician_adds_the_care_team(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    stored = await create(client, builders.conversation_answers(people["patient"], people["role"]))
    bundle = (await extract(client, stored["id"])).json()
    assert by_type(bundle, "CareTeam") == []
    team = await create(
        client,
        builders.care_team(people["patient"], people["role"].split("/")[1])
        | {
            "participant": [
                {
                    "role": [{"coding": [{"system": CARE_ROLE_SYSTEM, "code": "distriktsskoterska"}]}],
                    "member": {"reference": people["role"]},
                }
            ]
        },
    )
    completed = complete(bundle, people["role"])
    by_type(completed, "CarePlan")[0]["resource"]["careTeam"] = [{"reference": f"CareTeam/{team['id']}"}]
    posted = await client.post("/fhir", json=completed)
    assert posted.status_code == 200, posted.text


async def test_an_in_progress_response_drafts_what_it_holds(client: httpx.AsyncClient, people: dict[str, str]) -> None:
    response = builders.conversation_answers(people["patient"], people["role"], status="in-progress")
    response["item"] = response["item"][:1]
    stored = await create(client, response)
    bundle = (await extract(client, stored["id"])).json()
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Goal", "CarePlan"]
    plan = bundle["entry"][-1]["resource"]
    assert "activity" not in plan and "careTeam" not in plan
    assert plan["goal"] == [{"reference": bundle["entry"][0]["fullUrl"]}]


async def test_only_the_contract_conversation_is_extracted(client: httpx.AsyncClient, people: dict[str, str]) -> None:
    seven = await create(client, builders.seven_answers(f"Patient/{people['patient']}", people["unit"]))
    body = outcome(await extract(client, seven["id"]), 422)
    assert expressions(body) == ["QuestionnaireResponse.questionnaire"]
    assert outcome(await extract(client, "finns-inte"), 404)
    stored = await create(client, builders.conversation_answers(people["patient"], people["role"]))
    assert (await client.delete(f"/fhir/QuestionnaireResponse/{stored['id']}")).status_code == 204
    assert outcome(await extract(client, stored["id"]), 410)


async def test_the_capability_statement_lists_extract(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "QuestionnaireResponse")
    definition = next(o["definition"] for o in entry["operation"] if o["name"] == "extract")
    served = await client.get("/fhir/OperationDefinition/QuestionnaireResponse-extract")
    assert served.status_code == 200 and served.json()["url"] == definition
    assert served.json()["affectsState"] is False

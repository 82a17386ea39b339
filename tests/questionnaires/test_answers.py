"""A QuestionnaireResponse is checked against its Questionnaire on every write (issue 13.2).

Every kind of wrong answer is a 422 whose OperationOutcome names the element, and nothing is
stored; ``$validate`` names the same elements without writing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fhirbridge.conformance.registry import registry
from tests.support import builders
from tests.support.api import create, expressions, outcome

Response = dict[str, Any]
SEVEN = "https://fhirbridge.se/fhir/Questionnaire/seven-questions-patient"


def battery(people: dict[str, str], **options: Any) -> Response:
    return builders.conversation_answers(
        people["patient"], people["role"], unit_id=people["unit"], person=people["role"], **options
    )


async def stored_responses(client: httpx.AsyncClient, patient_id: str) -> list[Any]:
    found = await client.get("/fhir/QuestionnaireResponse", params={"subject": f"Patient/{patient_id}"})
    assert found.status_code == 200, found.text
    return list(found.json().get("entry", []))


async def test_the_battery_the_seven_and_the_five_questions_are_accepted(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    patient = people["patient"]
    accepted = [
        battery(people),
        builders.conversation_answers(patient, people["role"]),  # no help to coordinate: no proposal
        builders.seven_answers(f"Patient/{patient}", people["unit"], (True, False, True, True, False, True, True)),
        builders.five_answers(patient, (False,) * 5),
        dict(builders.five_answers(patient), questionnaire=builders.five_answers(patient)["questionnaire"] + "|0.1.0"),
    ]
    for response in accepted:
        await create(client, response)
    assert len(await stored_responses(client, patient)) == len(accepted)


async def test_an_in_progress_response_may_leave_required_items_out(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    draft = battery(people, status="in-progress")
    draft["item"] = [draft["item"][0], {"linkId": "shared-goal", "item": [draft["item"][1]["item"][1]]}]
    await create(client, draft)
    finished = dict(draft, status="completed")
    body = outcome(await client.post("/fhir/QuestionnaireResponse", json=finished), 422)
    assert {"QuestionnaireResponse.item", "QuestionnaireResponse.item[1].item"} <= set(expressions(body))


def _item(response: Response, link_id: str) -> dict[str, Any]:
    for item in response["item"]:
        if item["linkId"] == link_id:
            return item
        for child in item.get("item", []):
            if child["linkId"] == link_id:
                return child
    raise KeyError(link_id)


def _answer(link_id: str, **value: Any) -> Callable[[Response], None]:
    def change(response: Response) -> None:
        _item(response, link_id)["answer"] = [value]

    return change


def _drop(link_id: str) -> Callable[[Response], None]:
    def change(response: Response) -> None:
        response["item"] = [i for i in response["item"] if i["linkId"] != link_id]
        for item in response["item"]:
            if "item" in item:
                item["item"] = [i for i in item["item"] if i["linkId"] != link_id]

    return change


def _set(key: str, value: Any) -> Callable[[Response], None]:
    def change(response: Response) -> None:
        response[key] = value

    return change


def _rename(link_id: str, new: str) -> Callable[[Response], None]:
    def change(response: Response) -> None:
        _item(response, link_id)["linkId"] = new

    return change


def _twice(link_id: str) -> Callable[[Response], None]:
    def change(response: Response) -> None:
        response["item"].append(copy.deepcopy(_item(response, link_id)))

    return change


def _two_answers(response: Response) -> None:
    _item(response, "has-fixed-doctor")["answer"] = [{"valueBoolean": True}, {"valueBoolean": False}]


def _answer_on_group(response: Response) -> None:
    _item(response, "shared-goal")["answer"] = [{"valueString": "Orka mer"}]


def _item_under_question(response: Response) -> None:
    _item(response, "what-matters")["item"] = [{"linkId": "own-part", "answer": [{"valueString": "x"}]}]


def _nested_at_top(response: Response) -> None:
    response["item"].insert(2, {"linkId": "shared-goal.ambition", "answer": [{"valueBoolean": True}]})


def _no_coordination_but_a_proposal(response: Response) -> None:
    _item(response, "wants-coordination")["answer"] = [{"valueBoolean": False}]


AMBITION = builders.AMBITION_LEVEL_SYSTEM
WRONG: list[tuple[str, Callable[[Response], None], str]] = [
    ("no questionnaire", lambda r: r.pop("questionnaire"), "QuestionnaireResponse.questionnaire"),
    (
        "a questionnaire this server does not have",
        _set("questionnaire", "https://fhirbridge.se/fhir/Questionnaire/finns-inte"),
        "QuestionnaireResponse.questionnaire",
    ),
    (
        "a profile, not a questionnaire",
        _set("questionnaire", "https://fhirbridge.se/fhir/StructureDefinition/contract-goal"),
        "QuestionnaireResponse.questionnaire",
    ),
    ("an unknown linkId", _rename("own-part", "own-parts"), "QuestionnaireResponse.item[2]"),
    ("a nested linkId at the top", _nested_at_top, "QuestionnaireResponse.item[2]"),
    ("a linkId twice at one level", _twice("knows-next-step"), "QuestionnaireResponse.item[9]"),
    ("text as a boolean", _answer("what-matters", valueBoolean=True), "QuestionnaireResponse.item[0].answer[0]"),
    ("boolean as text", _answer("has-fixed-contact", valueString="ja"), "QuestionnaireResponse.item[3].answer[0]"),
    (
        "a choice as text",
        _answer("shared-goal.ambition", valueString="hög"),
        "QuestionnaireResponse.item[1].item[1].answer[0]",
    ),
    (
        "a code outside the value set",
        _answer("shared-goal.ambition", valueCoding={"system": AMBITION, "code": "maximal"}),
        "QuestionnaireResponse.item[1].item[1].answer[0].valueCoding",
    ),
    (
        "a code of another system",
        _answer("shared-goal.ambition", valueCoding={"system": "http://snomed.info/sct", "code": "hog"}),
        "QuestionnaireResponse.item[1].item[1].answer[0].valueCoding",
    ),
    (
        "a reference to the wrong type",
        _answer("fixed-contact-proposal.unit", valueReference={"reference": "Practitioner/karin"}),
        "QuestionnaireResponse.item[8].item[0].answer[0].valueReference",
    ),
    ("an answer on a disabled item", _no_coordination_but_a_proposal, "QuestionnaireResponse.item[8]"),
    ("a required item left out", _drop("own-part"), "QuestionnaireResponse.item"),
    ("a required nested item left out", _drop("shared-goal.description"), "QuestionnaireResponse.item[1].item"),
    (
        "the unit left out of the proposal",
        _drop("fixed-contact-proposal.unit"),
        "QuestionnaireResponse.item[8].item",
    ),
    ("two answers to a single question", _two_answers, "QuestionnaireResponse.item[4].answer[1]"),
    ("an answer on a group", _answer_on_group, "QuestionnaireResponse.item[1]"),
    ("an item under a question", _item_under_question, "QuestionnaireResponse.item[0]"),
]


@pytest.mark.parametrize(("what", "change", "where"), WRONG, ids=[w[0] for w in WRONG])
async def test_a_wrong_answer_is_422_naming_the_element_and_nothing_is_stored(
    client: httpx.AsyncClient, people: dict[str, str], what: str, change: Callable[[Response], None], where: str
) -> None:
    response = battery(people)
    change(response)
    body = outcome(await client.post("/fhir/QuestionnaireResponse", json=response), 422)
    assert where in expressions(body), (what, body)
    assert await stored_responses(client, people["patient"]) == []
    # $validate names the same element, and writes nothing either
    checked = await client.post("/fhir/QuestionnaireResponse/$validate", json=response)
    assert checked.status_code == 200, checked.text
    assert where in expressions(checked.json())
    assert await stored_responses(client, people["patient"]) == []


async def test_the_seven_and_the_five_questions_are_checked_too(
    client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    patient = people["patient"]
    seven = builders.seven_answers(f"Patient/{patient}", people["unit"])
    seven["item"][2]["answer"] = [{"valueString": "ja"}]
    del seven["item"][6]
    body = outcome(await client.post("/fhir/QuestionnaireResponse", json=seven), 422)
    assert {"QuestionnaireResponse.item[2].answer[0]", "QuestionnaireResponse.item"} <= set(expressions(body))
    five = builders.five_answers(patient)
    five["item"].append({"linkId": "q6", "answer": [{"valueBoolean": True}]})
    body = outcome(await client.post("/fhir/QuestionnaireResponse", json=five), 422)
    assert expressions(body) == ["QuestionnaireResponse.item[5]"]
    assert await stored_responses(client, patient) == []


async def test_a_retired_questionnaire_takes_no_answers(
    client: httpx.AsyncClient, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    questionnaire = registry().resolve(SEVEN)
    assert questionnaire is not None
    monkeypatch.setitem(questionnaire, "status", "retired")
    answers = builders.seven_answers(f"Patient/{people['patient']}", people["unit"])
    body = outcome(await client.post("/fhir/QuestionnaireResponse", json=answers), 422)
    assert expressions(body) == ["QuestionnaireResponse.questionnaire"]
    assert "retired" in body["issue"][0]["diagnostics"]
    assert await stored_responses(client, people["patient"]) == []


async def test_an_update_is_checked_as_a_create_is(client: httpx.AsyncClient, people: dict[str, str]) -> None:
    stored = await create(client, battery(people))
    changed = copy.deepcopy(stored)
    _answer("knows-next-step", valueInteger=1)(changed)
    response = await client.put(f"/fhir/QuestionnaireResponse/{stored['id']}", json=changed)
    assert expressions(outcome(response, 422)) == ["QuestionnaireResponse.item[5].answer[0]"]
    read = await client.get(f"/fhir/QuestionnaireResponse/{stored['id']}")
    assert read.json()["meta"]["versionId"] == "1"


async def test_the_seven_questions_are_answered_about_whom_they_ask_about(client: httpx.AsyncClient) -> None:
    """Staff answer about their unit (an Organization), patients about themselves: a response
    to the staff questionnaire about a patient (or the other way round) is 422 naming the subject."""
    patient = (await client.post("/fhir/Patient", json=builders.patient())).json()["id"]
    unit = (await client.post("/fhir/Organization", json=builders.organization())).json()["id"]
    as_staff = builders.seven_answers(f"Patient/{patient}", unit)
    as_staff["questionnaire"] = builders.SEVEN_QUESTIONS_STAFF
    as_patient = builders.seven_answers(f"Organization/{unit}", unit)
    as_patient["questionnaire"] = builders.SEVEN_QUESTIONS_PATIENT
    for wrong in (as_staff, as_patient):
        answer = await client.post("/fhir/QuestionnaireResponse", json=wrong)
        assert answer.status_code == 422, answer.text
        assert answer.json()["issue"][0]["expression"] == ["QuestionnaireResponse.subject"]
    assert (await client.get("/fhir/QuestionnaireResponse")).json().get("total", 0) == 0


async def test_whom_answers_are_about_is_judged_on_the_stored_subject(client: httpx.AsyncClient) -> None:
    """The subject by personnummer is judged as the Patient it names (after the write path has
    resolved it), not refused for saying no type: the patient questionnaire takes it, the staff
    one refuses it, in a transaction by ``urn:uuid`` alike."""
    patient = builders.patient()
    created = (await client.post("/fhir/Patient", json=patient)).json()
    unit = (await client.post("/fhir/Organization", json=builders.organization())).json()["id"]
    by_number = {"identifier": patient["identifier"][0]}
    answers = dict(builders.seven_answers(f"Patient/{created['id']}", unit), subject=by_number, author=by_number)
    stored = await client.post("/fhir/QuestionnaireResponse", json=answers)
    assert stored.status_code == 201, stored.text
    assert stored.json()["subject"]["reference"] == f"Patient/{created['id']}"
    as_staff = dict(answers, questionnaire=builders.SEVEN_QUESTIONS_STAFF)
    refused = await client.post("/fhir/QuestionnaireResponse", json=as_staff)
    assert refused.status_code == 422, refused.text
    assert refused.json()["issue"][0]["expression"] == ["QuestionnaireResponse.subject"]
    urn = "urn:uuid:0b9f5d2e-3c1a-4e6f-9a8b-7c6d5e4f3a2b"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": urn, "resource": builders.patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": dict(answers, subject={"reference": urn}, author={"reference": urn}),
                "request": {"method": "POST", "url": "QuestionnaireResponse"},
            },
        ],
    }
    answered = await client.post("/fhir", json=bundle)
    assert answered.status_code == 200, answered.text
    assert [e["response"]["status"][:3] for e in answered.json()["entry"]] == ["201", "201"]

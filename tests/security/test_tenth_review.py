"""The tenth adversarial review's attacks, kept as tests (docs/security.md rules 7 and 11).

Staff answers about a unit could be written for another unit by naming a patient as author; a
patient's answers about a blocked unit, or a Goal, answers or a Condition whose owner is a
contained resource of the unit, were shown outside it; a delete of another unit's record said
it exists where a read says it does not."""

from __future__ import annotations

from typing import Any

import httpx

from fhirbridge.sweden.identifiers import HSA_SYSTEM
from tests.security.callers import (
    admin,
    admin_post,
    anna_writer,
    block_hospital,
    doctor,
    hospital_staff_answers,
    outsider_team,
    returned,
    service,
    stranger,
)
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support import builders

STAFF = builders.SEVEN_QUESTIONS_STAFF


async def test_nobody_outside_a_unit_writes_its_staff_answers_by_naming_a_patient(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """MEDIUM (finding 1): with a patient as author, the unit check was skipped."""
    hospital = f"Organization/{world['hospital']}"
    genuine = await hospital_staff_answers(anyone, rsa, world)
    await outsider_team(anyone, rsa, world)
    forged = builders.seven_answers(hospital, world["hospital"], author=f"Patient/{world['anna']}")
    for caller in (stranger(rsa, world), anna_writer(rsa, world)):
        answer = await anyone.post("/fhir/QuestionnaireResponse", json=forged, headers=caller)
        assert answer.status_code in (403, 422), answer.text
    # nor for its own unit while saying the answers count for another
    mislabelled = builders.seven_answers(f"Organization/{world['outsider']}", world["hospital"])
    mislabelled["author"] = {"reference": f"PractitionerRole/{world['stranger-role']}"}
    answer = await anyone.post("/fhir/QuestionnaireResponse", json=mislabelled, headers=stranger(rsa, world))
    assert answer.status_code == 403, answer.text
    found = await anyone.get(
        "/fhir/QuestionnaireResponse", params={"subject": hospital, "questionnaire": STAFF}, headers=doctor(rsa, world)
    )
    assert returned(found) == [f"QuestionnaireResponse/{genuine['id']}"]


async def test_answers_about_a_blocked_unit_named_by_hsa_id_are_the_units(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """HIGH (finding 2): ``answered-for-unit`` by HSA-id stayed logical, so nobody owned it."""
    hospital = (await anyone.get(f"/fhir/Organization/{world['hospital']}", headers=admin(rsa))).json()
    hsa_id = next(i["value"] for i in hospital["identifier"] if i["system"] == HSA_SYSTEM)
    await outsider_team(anyone, rsa, world)
    answers = builders.seven_answers(f"Patient/{world['anna']}", world["hospital"])
    answers["extension"][0]["valueReference"] = {
        "identifier": {"system": HSA_SYSTEM, "value": hsa_id},
        "display": "Medicinkliniken",
    }
    created = await anyone.post("/fhir/QuestionnaireResponse", json=answers, headers=anna_writer(rsa, world))
    assert created.status_code == 201, created.text
    assert created.json()["extension"][0]["valueReference"]["reference"] == f"Organization/{world['hospital']}"
    await block_hospital(anyone, rsa, world)
    url = f"/fhir/QuestionnaireResponse/{created.json()['id']}"
    for outside in (stranger(rsa, world), service(rsa)):
        shown = await anyone.get(url, headers=outside)
        assert shown.status_code in (403, 404) and hsa_id not in shown.text, shown.text
    search = await anyone.get(
        "/fhir/QuestionnaireResponse", params={"subject": f"Patient/{world['anna']}"}, headers=stranger(rsa, world)
    )
    assert f"QuestionnaireResponse/{created.json()['id']}" not in returned(search)


def _contained_role(world: World, local_id: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": local_id,
        "organization": {"reference": f"Organization/{world['hospital']}"},
        "practitioner": {"reference": f"Practitioner/{world['doctor']}"},
    }


async def test_a_record_whose_owner_is_a_contained_resource_is_withheld_while_a_block_holds(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """HIGH (finding 3): a contained PractitionerRole of the blocked unit as who expressed a
    Goal, answered or recorded made the record nobody's, shown to all outside the unit."""
    await outsider_team(anyone, rsa, world)
    goal = dict(
        builders.goal(world["anna"], "Klara trappan (sagt till kardiologen)"),
        expressedBy={"reference": "#e"},
        contained=[_contained_role(world, "e")],
    )
    answers = dict(
        builders.seven_answers(f"Patient/{world['anna']}", world["outsider"]),
        author={"reference": "#a"},
        contained=[_contained_role(world, "a")],
    )
    condition = dict(
        builders.condition(world["anna"]),
        recorder={"reference": "#r"},
        asserter={"reference": "#r"},
        contained=[_contained_role(world, "r")],
    )
    made = [await admin_post(anyone, rsa, resource) for resource in (goal, answers, condition)]
    for resource in made:
        url = f"/fhir/{resource['resourceType']}/{resource['id']}"
        assert (await anyone.get(url, headers=stranger(rsa, world))).status_code == 200
    await block_hospital(anyone, rsa, world)
    for resource in made:
        url = f"/fhir/{resource['resourceType']}/{resource['id']}"
        for outside in (stranger(rsa, world), service(rsa)):
            shown = await anyone.get(url, headers=outside)
            assert shown.status_code in (403, 404) and world["hospital"] not in shown.text, (url, shown.text)
        # the patient herself still reads what is about her
        assert (await anyone.get(url, headers=anna_writer(rsa, world))).status_code == 200


async def test_another_units_record_does_not_exist_for_a_delete_either(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """LOW (L3): a read of another unit's staff answers is 404; a delete said 403.  A delete
    answers as for an id that never existed (twenty-first review: 200, nothing to delete; a
    404 told the id apart from a free one) and deletes nothing."""
    created = await hospital_staff_answers(anyone, rsa, world)
    url = f"/fhir/QuestionnaireResponse/{created['id']}"
    read = await anyone.get(url, headers=stranger(rsa, world))
    assert read.status_code == 404, read.text
    deleted = await anyone.delete(url, headers=stranger(rsa, world))
    never = await anyone.delete("/fhir/QuestionnaireResponse/aldrig-funnen-0001", headers=stranger(rsa, world))
    assert deleted.status_code == never.status_code == 200, (deleted.text, never.text)
    assert deleted.json()["issue"][0]["code"] == never.json()["issue"][0]["code"] == "informational"
    assert (await anyone.get(url, headers=doctor(rsa, world))).status_code == 200

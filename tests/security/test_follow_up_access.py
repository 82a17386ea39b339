"""Who reads and writes the follow-up's records (issue 13; docs/security.md rule 10): a
patient's answers to the seven questions are the patient's (their compartment), a unit staff's
answers and a unit's summary MeasureReport are the unit's, a Condition is written by the care
team, Measures and MeasureReports by the region's services."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.callers import admin, admin_post, anna_writer, doctor, returned, stranger
from tests.security.tokens import SigningKey
from tests.security.world import World, patient_token, user_token
from tests.support import builders


async def _post(client: httpx.AsyncClient, headers: dict[str, str], resource: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=headers)


async def test_a_patient_answers_the_seven_questions_about_their_own_care_only(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    anna = anna_writer(rsa, world)
    own = await _post(anyone, anna, builders.seven_answers(f"Patient/{world['anna']}", world["hospital"]))
    assert own.status_code == 201, own.text
    for someone_else in (f"Patient/{world['bertil']}", f"Organization/{world['hospital']}"):
        refused = await _post(anyone, anna, builders.seven_answers(someone_else, world["hospital"]))
        assert refused.status_code == 403, refused.text
        assert refused.json()["resourceType"] == "OperationOutcome"
    # her doctor (care relation) reads them; a unit without one does not, nor another patient
    url = f"/fhir/QuestionnaireResponse/{own.json()['id']}"
    assert (await anyone.get(url, headers=doctor(rsa, world))).status_code == 200
    assert (await anyone.get(url, headers=stranger(rsa, world))).status_code in (403, 404)
    assert (await anyone.get(url, headers=patient_token(rsa, world, "bertil"))).status_code == 404


async def test_staff_answer_for_their_own_unit_and_only_that_unit_reads_them(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    hospital, outsider = f"Organization/{world['hospital']}", f"Organization/{world['outsider']}"
    role = f"PractitionerRole/{world['doctor-role']}"
    mine = await _post(anyone, doctor(rsa, world), builders.seven_answers(hospital, world["hospital"], author=role))
    assert mine.status_code == 201, mine.text
    theirs = await _post(anyone, doctor(rsa, world), builders.seven_answers(outsider, world["outsider"], author=role))
    assert theirs.status_code == 403, theirs.text
    assert "unit" in theirs.json()["issue"][0]["diagnostics"]
    url = f"/fhir/QuestionnaireResponse/{mine.json()['id']}"
    assert (await anyone.get(url, headers=doctor(rsa, world))).status_code == 200
    assert (await anyone.get(url, headers=admin(rsa))).status_code == 200
    # the unit above the hospital (the region) reads its units' answers; another unit and patients do not
    region_user = user_token(rsa, world, "helper", "region")
    assert (await anyone.get(url, headers=region_user)).status_code == 200
    for outsider_caller in (stranger(rsa, world), patient_token(rsa, world, "anna")):
        assert (await anyone.get(url, headers=outsider_caller)).status_code == 404
        found = await anyone.get("/fhir/QuestionnaireResponse", params={"subject": hospital}, headers=outsider_caller)
        assert f"QuestionnaireResponse/{mine.json()['id']}" not in returned(found)
    # nor can another unit take the answers over by rewriting them as its own
    taken = dict(mine.json(), subject={"reference": outsider})
    taken_over = await anyone.put(url, json=taken, headers=stranger(rsa, world))
    assert taken_over.status_code in (403, 404), taken_over.text
    assert (await anyone.get(url, headers=admin(rsa))).json()["subject"] == {"reference": hospital}


async def test_a_unit_record_naming_no_unit_is_the_regions(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """Staff answers about no unit are refused outright (the staff questionnaire is about an
    Organization); a summary MeasureReport without a reporter is the region's alone."""
    answers = builders.seven_answers(f"Organization/{world['hospital']}", world["hospital"])
    unnamed = {key: value for key, value in answers.items() if key not in ("subject", "extension", "author")}
    for caller in (doctor(rsa, world), admin(rsa)):
        refused = await _post(anyone, caller, unnamed)
        assert refused.status_code in (403, 422), refused.text
    report = builders.measure_report("https://fhirbridge.se/fhir/Measure/SevenQuestions", world["hospital"])
    del report["reporter"]
    created = await admin_post(anyone, rsa, report)
    url = f"/fhir/MeasureReport/{created['id']}"
    assert (await anyone.get(url, headers=doctor(rsa, world))).status_code == 404
    assert (await anyone.get(url, headers=admin(rsa))).status_code == 200


async def test_a_condition_is_written_by_the_care_team_not_the_patient(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    refused = await _post(anyone, anna_writer(rsa, world), builders.condition(world["anna"]))
    assert refused.status_code == 403, refused.text
    written = await _post(anyone, doctor(rsa, world), builders.condition(world["anna"]))
    assert written.status_code == 201, written.text
    url = f"/fhir/Condition/{written.json()['id']}"
    assert (await anyone.get(url, headers=patient_token(rsa, world, "anna"))).status_code == 200
    assert (await anyone.get(url, headers=patient_token(rsa, world, "bertil"))).status_code == 404
    assert (await anyone.get(url, headers=stranger(rsa, world))).status_code in (403, 404)
    assert (await _post(anyone, stranger(rsa, world), builders.condition(world["anna"]))).status_code == 403


async def test_measures_and_unit_reports_are_the_regions_to_write_and_the_units_to_read(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    measure = builders.measure()
    assert (await _post(anyone, doctor(rsa, world), measure)).status_code == 403
    await admin_post(anyone, rsa, measure)
    report = builders.measure_report(measure["url"], world["hospital"])
    assert (await _post(anyone, doctor(rsa, world), report)).status_code == 403
    created = await admin_post(anyone, rsa, report)
    url = f"/fhir/MeasureReport/{created['id']}"
    assert (await anyone.get(url, headers=doctor(rsa, world))).status_code == 200
    assert (await anyone.get(url, headers=stranger(rsa, world))).status_code == 404
    assert (await anyone.get(url, headers=patient_token(rsa, world, "anna"))).status_code == 404
    found = await anyone.get("/fhir/MeasureReport", headers=stranger(rsa, world))
    assert returned(found) == []

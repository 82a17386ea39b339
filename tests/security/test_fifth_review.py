"""A fifth, independent review of patient isolation and the Patient Data Act (after the fixes of
the first four reviews: tests/security/test_review_attacks.py, test_second_review.py,
test_third_review.py, test_fourth_review.py).

Each test states what must happen when an attacker tries it, against a real server in
production mode (JWT, real signed tokens) on a real SQLite file.  The attackers: a patient's
token (Anna), a clinician of an unrelated unit (the stranger at "outsider"), with or without a
care relation of its own, and a clinician of a blocked unit (the doctor at "hospital").

The findings, with their severity, are in each test's docstring; the ones that fail on the
reviewed commit are the findings, the ones that pass record what was tried and held.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from tests.security.callers import admin, admin_post, doctor, outsider_team, outsiders_plan, stranger
from tests.security.test_kept_facts import other as other  # a second instance on the same database
from tests.security.test_second_review import consent_and_block
from tests.security.tokens import SigningKey
from tests.security.world import NOT_FOR_PATIENT, World, patient_token
from tests.support import builders

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def annas_log(anyone: httpx.AsyncClient, key: SigningKey, world: World) -> list[dict[str, Any]]:
    log = await anyone.get(
        "/fhir/AuditEvent",
        params={"patient": f"Patient/{world['anna']}", "_count": "500"},
        headers=patient_token(key, world, "anna"),
    )
    assert log.status_code == 200, log.text[:300]
    return [entry["resource"] for entry in log.json().get("entry", [])]


def decoded(event: dict[str, Any]) -> str:
    """An AuditEvent as text, with its logged query strings decoded."""
    queries = [
        base64.b64decode(entity["query"]).decode("utf-8", "replace")
        for entity in event.get("entity", [])
        if isinstance(entity, dict) and "query" in entity
    ]
    return str(event) + " ".join(queries)


# -- 1. plans not approved for the patient: earlier versions ------------------------------------


async def test_a_plan_later_marked_not_for_the_patient_is_not_read_through_its_earlier_versions(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """MEDIUM.  The region's integration writes a plan about Anna (version 1, no label), and the
    same sync labels it NOPATIENT (version 2: not approved for the patient).  Rule 5 hides it
    from her, and she never read it.  But the policy judges each version by its own label, so
    version 1 stays hers to read: the type history lists it, vread and $revisions give its whole
    content, and its Provenance names it.  (Blocks, by contrast, are judged by what the resource
    is now and cover "every old version, too".)"""
    plan = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Utredning: misstänkt demens",
            author={"reference": f"PractitionerRole/{world['doctor-role']}"},
        ),
    )
    labelled = dict(plan, meta={"security": [NOT_FOR_PATIENT]})
    relabel = await anyone.put(f"/fhir/CarePlan/{plan['id']}", json=labelled, headers=admin(rsa))
    assert relabel.status_code == 200, relabel.text
    anna = patient_token(ec, world, "anna")
    assert (await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=anna)).status_code == 404

    told = []
    for path in (
        f"/fhir/CarePlan/{plan['id']}/_history/1",
        "/fhir/CarePlan/_history",
        "/fhir/_history",
        f"/fhir/CarePlan/{plan['id']}/$revisions",
        f"/fhir/Provenance?target=CarePlan/{plan['id']}",
    ):
        answer = await anyone.get(path, headers=anna)
        # a search's own links repeat what Anna asked (the plan's id in her query): not a leak
        shown = {k: v for k, v in answer.json().items() if k != "link"} if answer.status_code == 200 else {}
        if plan["id"] in json.dumps(shown) or "demens" in json.dumps(shown, ensure_ascii=False):
            told.append(path)
    assert not told, f"Anna reads the plan not approved for her through: {told}"


# -- 2. the patient's own log: refusals that name what is kept from her ---------------------------


async def test_a_refusal_logged_about_the_patient_does_not_name_a_plan_kept_from_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """MEDIUM (item 2: Access.shown).  Anna has consented to the outsider reading and has blocked
    the hospital.  The outsider reads her internal plan (NOPATIENT, the hospital's): 403, "The
    patient has blocked (spärr) this information from CarePlan/<id>'s unit".  The refusal is
    logged with Anna as the patient, and its ``outcomeDesc`` keeps the 403's words: Anna's own log
    then names the id of the plan not approved for her.  The view that strips ``entity`` does not
    look at ``outcomeDesc``."""
    await consent_and_block(anyone, rsa, world)
    internal = world["anna-internal-plan"]
    refused = await anyone.get(f"/fhir/CarePlan/{internal}", headers=stranger(rsa, world))
    assert refused.status_code == 403
    told = [event.get("outcomeDesc") for event in await annas_log(anyone, ec, world) if internal in decoded(event)]
    assert not told, f"Anna's log names the plan not approved for her: {told}"


# -- 3. bounded reads of the access facts ---------------------------------------------------------


async def test_a_block_is_not_lost_behind_a_thousand_consents_written_by_a_caregiver(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM.  The policy reads at most 1,000 Consents of a patient (access/facts.py MOST), the
    oldest first.  The outsider unit has a care relation with Anna (its own care team), and a
    clinician may record Consents: it records 1,000 of them (status ``proposed``, one
    transaction; logged, but nothing refuses it).  Anna later blocks the hospital.  Her block is
    the 1,001st Consent, never read: the outsider reads the hospital's contract, which the block
    must hide from every unit outside the hospital."""
    await outsider_team(anyone, rsa, world)
    outsider = stranger(rsa, world)
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    assert (await anyone.get(plan, headers=outsider)).status_code == 200
    flood = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": dict(builders.consent(world["anna"], f"Organization/{world['outsider']}"), status="proposed"),
            "request": {"method": "POST", "url": "Consent"},
        }
        for _ in range(1000)
    ]
    written = await anyone.post(
        "/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": flood}, headers=outsider
    )
    assert written.status_code == 200, written.text[:500]
    block = builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    await admin_post(anyone, rsa, block)
    read = await anyone.get(plan, headers=outsider)
    assert read.status_code == 403, f"the block is not applied: {read.status_code} {read.text[:200]}"


# -- 4. a blocked unit's part in another unit's plan ---------------------------------------------


async def test_a_plan_read_from_outside_a_blocked_unit_does_not_name_its_people_or_team(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM.  The fourth review's fix takes a blocked unit out of the contributors of a plan read
    from outside it ("that it worked on the patient's plan is its information too").  The same
    plan still names the blocked unit where the plan says who does what: an activity performed
    by the hospital's doctor (``activity.detail.performer``) and the hospital's care team
    (``careTeam``).  The outsider, whose own plan it is, reads both after Anna blocks the
    hospital."""
    plan = await outsiders_plan(anyone, rsa, world, block=False)
    await consent_and_block(anyone, rsa, world)
    read = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=stranger(rsa, world))
    assert read.status_code == 200, read.text[:300]
    named = [
        what
        for what in (f"PractitionerRole/{world['doctor-role']}", f"CareTeam/{world['anna-team']}")
        if what in read.text
    ]
    assert not named, f"the outsider's read of its plan names the blocked unit's {named}"


# -- 5. Access.shown: what If-None-Exist answers ---------------------------------------------------


def probe_event(world: World) -> dict[str, Any]:
    """A well-formed AuditEvent body, for a conditional create that only looks."""
    return {
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "recorded": "2026-01-01T00:00:00Z",
        "agent": [{"requestor": True, "who": {"reference": f"Patient/{world['anna']}"}}],
        "source": {"observer": {"display": "probe"}},
        "entity": [{"what": {"reference": f"Patient/{world['anna']}"}}],
    }


async def test_if_none_exist_does_not_answer_the_patients_log_entry_unstripped(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """MEDIUM (item 2: Access.shown).  The doctor reads a Goal of Anna's that only a plan not
    approved for her holds; her log entry of that read is shown to her without the Goal
    (``_patients_view``).  A conditional create answers the existing match as stored: Anna posts
    an AuditEvent with ``If-None-Exist: _id=<her entry>``.  The AuditEvent is never written (the
    match is found first, and the 405 for client-written AuditEvents sits in the write guard,
    which a match never reaches), and the answer is the entry as stored, naming the Goal."""
    goal = await admin_post(anyone, rsa, builders.goal(world["anna"], "Internt mål: utred missbruk"))
    await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Intern utredning",
            author={"reference": f"PractitionerRole/{world['doctor-role']}"},
            goal=[{"reference": f"Goal/{goal['id']}"}],
            meta={"security": [NOT_FOR_PATIENT]},
        ),
    )
    assert (await anyone.get(f"/fhir/Goal/{goal['id']}", headers=doctor(rsa, world))).status_code == 200
    shown = await annas_log(anyone, ec, world)
    assert shown and not any(goal["id"] in decoded(event) for event in shown)
    anna = patient_token(ec, world, "anna", scope="patient/*.cruds")
    told = []
    for event in shown:
        answer = await anyone.post(
            "/fhir/AuditEvent",
            json=probe_event(world),
            headers={**anna, "If-None-Exist": f"_id={event['id']}"},
        )
        if goal["id"] in answer.text:
            told.append(answer.status_code)
    assert not told, f"a conditional create answers Anna's log entry naming the goal kept from her: {told}"


async def test_if_none_exist_does_not_answer_a_plan_with_the_blocked_unit_among_its_contributors(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM.  The fourth review's fix shows the outsider its own plan without the blocked
    hospital among its contributors (``Access.shown``).  A conditional create whose
    ``If-None-Exist`` matches that plan answers it as stored, contributors and all."""
    team = await outsider_team(anyone, rsa, world)
    plan = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Vårdcentralens plan",
            author={"reference": f"PractitionerRole/{world['stranger-role']}"},
            careTeam=[{"reference": f"CareTeam/{team['id']}"}],
            contributor=[
                {"reference": f"Organization/{world['outsider']}"},
                {"reference": f"Organization/{world['hospital']}"},
            ],
        ),
    )
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    read = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=outsider)
    assert read.status_code == 200 and f"Organization/{world['hospital']}" not in read.text, read.text[:300]
    body = {k: v for k, v in read.json().items() if k not in ("id", "meta")}
    again = await anyone.post("/fhir/CarePlan", json=body, headers={**outsider, "If-None-Exist": f"_id={plan['id']}"})
    assert again.status_code in (200, 201), again.text[:300]
    assert f"Organization/{world['hospital']}" not in again.text, "If-None-Exist names the blocked unit"


# -- the fixes, beyond what the findings tried ------------------------------------------------------


async def test_more_active_consents_than_are_read_keep_every_other_units_information(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variant the status filter does not stop: the outsider, with its own care relation,
    records active consents (for its own unit) until Anna's block is past the bound.  What the
    block covers cannot then be told, so the policy fails closed: the outsider sees its own unit's
    care team, not the hospital's plan, and the region can still read and withdraw the consents."""
    monkeypatch.setattr("fhirbridge.access.facts.MOST", 5)  # the bound, small enough to reach here
    team = await outsider_team(anyone, rsa, world)
    outsider = stranger(rsa, world)
    flood = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": builders.consent(world["anna"], f"Organization/{world['outsider']}"),
            "request": {"method": "POST", "url": "Consent"},
        }
        for _ in range(6)  # with the block, two more than the bound: one more is read to tell there are more
    ]
    written = await anyone.post(
        "/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": flood}, headers=outsider
    )
    assert written.status_code == 200, written.text[:500]
    await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    refused = await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=outsider)
    assert refused.status_code == 403 and "cannot be told" in refused.text, refused.text[:300]
    assert (await anyone.get(f"/fhir/CareTeam/{team['id']}", headers=outsider)).status_code == 200
    service = await anyone.get("/fhir/Consent", params={"patient": f"Patient/{world['anna']}"}, headers=admin(rsa))
    assert service.status_code == 200 and len(service.json().get("entry", [])) == 7


async def test_a_transactions_if_none_exist_answers_the_callers_view_and_refuses_an_audit_event(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A transaction entry with ``ifNoneExist`` never answers the stored plan: since the ninth
    review a plan the caller sees only without the blocked unit's parts does not match
    conditional criteria at all (fail closed), so the entry creates; one that would create an
    AuditEvent is a 405 before matching."""
    team = await outsider_team(anyone, rsa, world)
    plan = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Vårdcentralens plan",
            author={"reference": f"PractitionerRole/{world['stranger-role']}"},
            careTeam=[{"reference": f"CareTeam/{team['id']}"}, {"reference": f"CareTeam/{world['anna-team']}"}],
            contributor=[{"reference": f"Organization/{world['hospital']}"}],
        ),
    )
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    view = (await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=outsider)).json()
    body = {k: v for k, v in view.items() if k not in ("id", "meta")}
    entry = {"resource": body, "request": {"method": "POST", "url": "CarePlan", "ifNoneExist": f"_id={plan['id']}"}}
    for kind in ("transaction", "batch"):
        answer = await anyone.post(
            "/fhir", json={"resourceType": "Bundle", "type": kind, "entry": [entry]}, headers=outsider
        )
        assert answer.status_code == 200, answer.text[:300]
        assert answer.json()["entry"][0]["response"]["status"].startswith("201"), answer.text[:300]
        assert plan["id"] not in answer.text, kind
        assert world["hospital"] not in answer.text and world["anna-team"] not in answer.text, kind
    anna = patient_token(ec, world, "anna", scope="patient/*.cruds")
    log = await annas_log(anyone, ec, world)
    probe = {
        "resource": probe_event(world),
        "request": {"method": "POST", "url": "AuditEvent", "ifNoneExist": f"_id={log[0]['id']}"},
    }
    answer = await anyone.post(
        "/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": [probe]}, headers=anna
    )
    assert answer.status_code == 405, answer.text[:300]


# -- held: the access epochs (item 1) --------------------------------------------------------------


async def test_held_a_consent_withdrawn_by_a_conditional_delete_in_a_transaction_applies_on_another_instance(
    anyone: httpx.AsyncClient, other: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Kept facts: the consent is withdrawn by a conditional DELETE inside a transaction on one
    instance; the other instance, which kept the consent, refuses at once."""
    consent = builders.consent(world["bertil"], f"Organization/{world['outsider']}")
    consent["identifier"] = [{"system": "urn:test:consent", "value": "c-1"}]
    await admin_post(anyone, rsa, consent)
    plan = f"/fhir/CarePlan/{world['bertil-plan']}"
    for _ in range(2):
        assert (await other.get(plan, headers=stranger(rsa, world))).status_code == 200
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "Consent?identifier=urn:test:consent|c-1"}}],
    }
    assert (await anyone.post("/fhir", json=bundle, headers=admin(rsa))).status_code == 200
    assert (await other.get(plan, headers=stranger(rsa, world))).status_code == 403

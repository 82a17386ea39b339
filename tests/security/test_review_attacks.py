"""Attacks from an independent review of patient isolation and the Patient Data Act (issue 11),
kept as regression tests: each states what must happen when an attacker tries it.

The attackers: a patient's token (Anna), a relative's token, a clinician of an unrelated unit
(the stranger at "outsider"), and a system token acting for that unrelated unit.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.notifications import outbox
from fhirbridge.storage.database import Database
from tests.adapters.test_get_care_plans import request as care_plans_request
from tests.security.callers import (
    admin,
    admin_post,
    anna_writer,
    transaction,
    unit_system,
)
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import PERSONNUMMER, World, patient_token, user_token
from tests.support import builders
from tests.support.api import link, match_ids


def own_goal(world: World, subject: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": "Mitt mål"},
        "subject": subject or {"reference": f"Patient/{world['anna']}"},
    }


def shape(response: httpx.Response) -> tuple[int, str]:
    """What an attacker can compare between two answers: the status and the diagnostics, with
    the probe's own words taken out."""
    try:
        body = response.json()
    except ValueError:
        return response.status_code, response.text
    issues = body.get("issue") or [] if isinstance(body, dict) else []
    return response.status_code, "|".join(sorted(f"{i.get('code')}:{_words(i.get('diagnostics'))}" for i in issues))


def _words(text: object) -> str:
    """Diagnostics without the numbers, ids and URLs a probe itself put in."""
    import re

    return re.sub(r"\S*\d\S*", "#", str(text or ""))


def database(app: FastAPI) -> Database:
    found: Database = app.state.context.repository.database
    return found


# -- existence and attribute oracles -----------------------------------------------------------


async def test_conditional_reference_does_not_tell_whether_a_personnummer_has_a_record(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    """The reference rule: "a Patient the writer may not reach is answered as if there were none,
    so that a write cannot tell whether a person has a record here"."""
    anna = anna_writer(ec, world)
    unknown = builders.personnummer()

    async def probe(number: str) -> httpx.Response:
        goal = own_goal(world)
        goal["expressedBy"] = {"reference": f"Patient?identifier={PERSONNUMMER}|{number}"}
        entry = {"fullUrl": "urn:uuid:1", "resource": goal, "request": {"method": "POST", "url": "Goal"}}
        return await anyone.post("/fhir", json=transaction(entry), headers=anna)

    existing, nobody = await probe(world.numbers["bertil"]), await probe(unknown)
    assert existing.status_code >= 400 and nobody.status_code >= 400
    assert shape(existing) == shape(nobody), (existing.text, nobody.text)


async def test_identifier_reference_does_not_tell_whether_a_personnummer_has_a_record(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = anna_writer(ec, world)

    async def probe(number: str) -> httpx.Response:
        goal = own_goal(world, {"identifier": {"system": PERSONNUMMER, "value": number}})
        return await anyone.post("/fhir/Goal", json=goal, headers=anna)

    existing, nobody = await probe(world.numbers["bertil"]), await probe(builders.personnummer())
    assert existing.status_code == nobody.status_code == 422
    assert shape(existing) == shape(nobody)


async def test_if_none_exist_is_no_oracle_over_another_patients_records(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    """A patient's conditional create must not let them test predicates on Bertil's data
    (here: whether Bertil has a Patient record with a given personnummer and name)."""
    anna = anna_writer(ec, world)

    async def probe(criteria: str) -> httpx.Response:
        entry = {"resource": own_goal(world), "request": {"method": "POST", "url": "Goal", "ifNoneExist": criteria}}
        return await anyone.post("/fhir", json=transaction(entry), headers=anna)

    hit = await probe(f"subject:Patient.identifier={PERSONNUMMER}|{world.numbers['bertil']}")
    miss = await probe(f"subject:Patient.identifier={PERSONNUMMER}|{builders.personnummer()}")
    assert hit.status_code == miss.status_code, (hit.text, miss.text)


async def test_conditional_reference_is_no_oracle_over_another_patients_plan(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    """A conditional reference's criteria are run over every patient's data: a hidden match
    (403) and no match (412) differ, so Anna can test words in Bertil's plan."""
    anna = anna_writer(ec, world)

    async def probe(criteria: str) -> httpx.Response:
        message = builders.communication(world["anna"], world["doctor"], "Fråga")
        message["basedOn"] = [{"reference": f"CarePlan?{criteria}"}]
        entry = {"resource": message, "request": {"method": "POST", "url": "Communication"}}
        return await anyone.post("/fhir", json=transaction(entry), headers=anna)

    hit = await probe(f"subject=Patient/{world['bertil']}&status=active")
    miss = await probe(f"subject=Patient/{world['bertil']}&status=revoked")
    assert shape(hit) == shape(miss), (hit.text, miss.text)


async def test_an_outsider_cannot_find_a_personnummer_by_conditional_create(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    stranger = user_token(rsa, world, "stranger", "outsider")

    async def probe(number: str) -> httpx.Response:
        body = builders.patient(number)
        return await anyone.post(
            "/fhir/Patient", json=body, headers={**stranger, "If-None-Exist": f"identifier={PERSONNUMMER}|{number}"}
        )

    hit = await probe(world.numbers["bertil"])
    miss = await probe(builders.personnummer())
    assert shape(hit) == shape(miss), (hit.text, miss.text)


async def test_paging_links_do_not_count_hidden_matches(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Hidden records are left out with no total; the next link must not tell of them either."""
    stranger = user_token(rsa, world, "stranger", "outsider")
    both = f"{PERSONNUMMER}|{world.numbers['anna']},{PERSONNUMMER}|{world.numbers['bertil']}"
    nobody = f"{PERSONNUMMER}|{builders.personnummer()},{PERSONNUMMER}|{builders.personnummer()}"
    hit = await anyone.get("/fhir/Patient", params={"identifier": both, "_count": "1"}, headers=stranger)
    miss = await anyone.get("/fhir/Patient", params={"identifier": nobody, "_count": "1"}, headers=stranger)
    assert match_ids(hit.json()) == match_ids(miss.json()) == []
    assert link(hit.json(), "next") is None and link(miss.json(), "next") is None, hit.text


async def test_a_patient_sees_no_other_patients_personnummer_in_the_access_log(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A clinician with Anna's consent looks up two personnummer at once; Anna reads her log."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    stranger = user_token(rsa, world, "stranger", "outsider")
    both = f"{PERSONNUMMER}|{world.numbers['anna']},{PERSONNUMMER}|{world.numbers['bertil']}"
    found = await anyone.get("/fhir/Patient", params={"identifier": both}, headers=stranger)
    assert match_ids(found.json()) == [world["anna"]]
    log = await anyone.get(
        "/fhir/AuditEvent",
        params={"patient": f"Patient/{world['anna']}", "_count": "500"},
        headers=anna_writer(ec, world),
    )
    assert log.status_code == 200
    decoded = [
        base64.b64decode(item["query"]).decode(errors="replace")
        for entry in log.json().get("entry", [])
        for item in entry["resource"].get("entity", [])
        if "query" in item
    ]
    assert not any(world.numbers["bertil"] in text for text in decoded), decoded


# -- the care network ---------------------------------------------------------------------------


async def test_a_unit_system_cannot_join_the_caregiver_by_rewriting_its_directory_entry(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A system token acting for the outsider unit is bound by the Patient Data Act; moving its
    own unit under the region (Organization.partOf) must not give it a care relation."""
    outsider = unit_system(rsa, world)
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    assert (await anyone.get(plan, headers=outsider)).status_code == 403
    entry = (await anyone.get(f"/fhir/Organization/{world['outsider']}", headers=outsider)).json()
    moved = dict(entry, partOf={"reference": f"Organization/{world['region']}"})
    await anyone.put(f"/fhir/Organization/{world['outsider']}", json=moved, headers=outsider)
    assert (await anyone.get(plan, headers=outsider)).status_code == 403


async def test_a_unit_system_cannot_move_a_care_team_members_role_to_itself(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    outsider = unit_system(rsa, world)
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    role = (await anyone.get(f"/fhir/PractitionerRole/{world['doctor-role']}", headers=outsider)).json()
    moved = dict(role, organization={"reference": f"Organization/{world['outsider']}"})
    await anyone.put(f"/fhir/PractitionerRole/{role['id']}", json=moved, headers=outsider)
    assert (await anyone.get(plan, headers=outsider)).status_code == 403


async def test_emergency_access_does_not_become_a_lasting_care_relation(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Emergency access covers one person and unit "until the period ends"; writing a CareTeam
    under it must not leave the unit a care relation once the grant is over."""
    from fhirbridge.access import policy
    from fhirbridge.fhir.instants import now_us

    helper = user_token(rsa, world, "helper", "other-outsider")
    plan = f"/fhir/CarePlan/{world['bertil-plan']}"
    asked = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "Akut"}]}
    granted = await anyone.post(f"/fhir/Patient/{world['bertil']}/$emergency-access", json=asked, headers=helper)
    assert granted.status_code == 200, granted.text
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['bertil']}"},
        "managingOrganization": [{"reference": f"Organization/{world['other-outsider']}"}],
    }
    await anyone.post("/fhir/CareTeam", json=team, headers=helper)
    later = now_us() + 61 * 60_000_000
    monkeypatch.setattr(policy, "now_us", lambda: later)
    assert (await anyone.get(plan, headers=helper)).status_code == 403


async def test_consent_for_one_unit_does_not_let_it_make_itself_a_lasting_care_relation(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    consent = await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    stranger = user_token(rsa, world, "stranger", "outsider")
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['anna']}"},
        "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
    }
    await anyone.post("/fhir/CareTeam", json=team, headers=stranger)
    revoked = dict(consent, status="inactive")
    assert (await anyone.put(f"/fhir/Consent/{consent['id']}", json=revoked, headers=admin(rsa))).status_code == 200
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=stranger)).status_code == 403


# -- Subscriptions --------------------------------------------------------------------------------


async def test_a_unit_systems_subscription_is_not_fed_other_units_patients(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI
) -> None:
    outsider = unit_system(rsa, world)
    body = builders.subscription("CarePlan?status=active", payload="application/fhir+json")
    created = await anyone.post("/fhir/Subscription", json=body, headers=outsider)
    if created.status_code != 201:
        return  # refused: nothing to deliver
    plan = (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=admin(rsa))).json()
    plan["description"] = "Ändrad"
    assert (await anyone.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=admin(rsa))).status_code == 200
    assert await outbox.pending(database(secure_app)) == 0, "Anna's plan is owed to the outsider's endpoint"


async def test_a_unit_system_cannot_read_or_redirect_another_units_subscription(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    hospital_feed = builders.subscription(
        f"CarePlan?subject=Patient/{world['anna']}",
        "https://journal.region.example/fhir-notify",
        payload="application/fhir+json",
        header=["Authorization: Bearer hospital-secret"],
    )
    feed = await admin_post(anyone, rsa, hospital_feed)
    outsider = unit_system(rsa, world)
    read = await anyone.get(f"/fhir/Subscription/{feed['id']}", headers=outsider)
    assert "hospital-secret" not in read.text
    listed = await anyone.get("/fhir/Subscription", headers=outsider)
    assert "hospital-secret" not in listed.text
    hijacked = dict(feed, channel=dict(feed["channel"], endpoint="https://attacker.example.org/x"))
    hijacked.pop("meta", None)
    response = await anyone.put(f"/fhir/Subscription/{feed['id']}", json=hijacked, headers=outsider)
    assert response.status_code in (403, 404), response.text


# -- ids, history, Provenance ----------------------------------------------------------------------


async def test_a_patient_cannot_take_over_the_id_of_another_patients_deleted_resource(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    goal = await admin_post(anyone, rsa, builders.goal(world["bertil"], "Bertils hemliga mål"))
    assert (await anyone.delete(f"/fhir/Goal/{goal['id']}", headers=admin(rsa))).status_code in (200, 204)
    anna = anna_writer(ec, world)
    mine = dict(own_goal(world), id=goal["id"])
    taken = await anyone.put(f"/fhir/Goal/{goal['id']}", json=mine, headers=anna)
    # Whatever the answer, Anna must not learn who wrote Bertil's goal or see its versions.
    provenances = await anyone.get("/fhir/Provenance/_history", params={"_count": "500"}, headers=anna)
    seen = [e["resource"] for e in provenances.json().get("entry", [])]
    versions = {t["reference"] for p in seen for t in p.get("target", [])}
    assert f"Goal/{goal['id']}/_history/1" not in versions, (taken.status_code, versions)
    trail = await anyone.get(f"/fhir/Goal/{goal['id']}/$revisions", headers=anna)
    assert "hemliga" not in trail.text


# -- includes, chains, references ---------------------------------------------------------------


async def test_includes_of_hidden_matches_are_left_out_too(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The outsider searches Anna's care teams by personnummer: the teams are hidden, and so must
    be the people and units they lead to (who treats Anna is her data)."""
    stranger = user_token(rsa, world, "stranger", "outsider")
    found = await anyone.get(
        "/fhir/CareTeam",
        params=[
            ("subject:Patient.identifier", f"{PERSONNUMMER}|{world.numbers['anna']}"),
            ("_include", "CareTeam:participant"),
            ("_include:iterate", "PractitionerRole:organization"),
            ("_include:iterate", "PractitionerRole:practitioner"),
        ],
        headers=stranger,
    )
    assert found.status_code == 200
    assert match_ids(found.json()) == []
    assert found.json().get("entry", []) == [], [e["resource"]["resourceType"] for e in found.json()["entry"]]


async def test_includes_of_a_blocked_care_team_are_left_out_too(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    stranger = user_token(rsa, world, "stranger", "outsider")
    assert (await anyone.get(f"/fhir/CareTeam/{world['anna-team']}", headers=stranger)).status_code == 403
    found = await anyone.get(
        "/fhir/CareTeam",
        params={"subject": f"Patient/{world['anna']}", "_include": "CareTeam:participant"},
        headers=stranger,
    )
    assert world["doctor-role"] not in found.text, "the blocked team's members were included"


async def test_a_chain_through_the_patients_own_resource_does_not_test_another_patient(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    """Anna refers to Bertil's record from her own message and searches with a chain: the chain
    must not evaluate Bertil's data for her."""
    anna = anna_writer(ec, world)
    message = builders.communication(world["anna"], world["doctor"], "Om Bertil")
    message["basedOn"] = [{"reference": f"Patient/{world['bertil']}"}]
    written = await anyone.post("/fhir/Communication", json=message, headers=anna)
    assert written.status_code in (201, 403, 422), written.text
    if written.status_code != 201:
        return
    hit = await anyone.get(
        "/fhir/Communication",
        params={"based-on:Patient.identifier": f"{PERSONNUMMER}|{world.numbers['bertil']}"},
        headers=anna,
    )
    miss = await anyone.get(
        "/fhir/Communication",
        params={"based-on:Patient.identifier": f"{PERSONNUMMER}|{builders.personnummer()}"},
        headers=anna,
    )
    assert match_ids(hit.json()) == match_ids(miss.json()), "the chain told Anna Bertil's personnummer"


async def test_referential_integrity_does_not_tell_a_patient_of_another_patients_records(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    """For Anna, Bertil's plan "does not exist" (404); a write referring to it must not tell otherwise."""
    anna = anna_writer(ec, world)
    real = builders.communication(world["anna"], world["doctor"], "x")
    real["basedOn"] = [{"reference": f"CarePlan/{world['bertil-plan']}"}]
    fake = builders.communication(world["anna"], world["doctor"], "x")
    fake["basedOn"] = [{"reference": "CarePlan/00000000-0000-4000-8000-000000000000"}]
    hit = await anyone.post("/fhir/Communication", json=real, headers=anna)
    miss = await anyone.post("/fhir/Communication", json=fake, headers=anna)
    assert hit.status_code == miss.status_code, (hit.status_code, miss.text)


async def test_a_patient_does_not_learn_of_plans_not_approved_for_them_through_provenance(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    for path in ("/fhir/_history", "/fhir/Provenance/_history"):
        history = await anyone.get(path, params={"_count": "500"}, headers=anna)
        assert history.status_code == 200
        assert world["anna-internal-plan"] not in history.text, path


async def test_a_relatives_shared_view_does_not_let_them_write_in_the_patients_name(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A relative is an information recipient (IRCP): they see what was shared; they must not
    consent on the patient's behalf to a care unit, nor change her plans."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    relative = bearer(
        mint(ec, scope="patient/*.cruds", fhirUser=f"RelatedPerson/{world['anna-relative']}", patient=world["anna"])
    )
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=relative)).status_code == 200
    opened = await anyone.post(
        "/fhir/Consent", json=builders.consent(world["anna"], f"Organization/{world['outsider']}"), headers=relative
    )
    assert opened.status_code == 403, opened.text


async def test_npo_answers_the_same_for_an_unknown_and_a_hidden_personnummer(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    stranger = user_token(rsa, world, "stranger", "outsider")

    def envelope(number: str) -> bytes:
        return care_plans_request(number)

    path = "/riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21"
    headers = {**stranger, "Content-Type": "text/xml"}
    other = builders.personnummer()
    hit = await anyone.post(path, content=envelope(world.numbers["bertil"]), headers=headers)
    miss = await anyone.post(path, content=envelope(other), headers=headers)
    assert hit.status_code == miss.status_code == 200, hit.text
    import re

    def plain(text: str, number: str) -> str:
        return re.sub(r"<([a-z]+:)?logId>[^<]*<", "<logId><", text.replace(number, "N"))

    assert plain(hit.text, world.numbers["bertil"]) == plain(miss.text, other)


# -- identity, legacy data, cursors -------------------------------------------------------------


async def test_a_patient_cannot_take_another_patients_personnummer(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Identifiers decide whom a reference by personnummer (and NPÖ's lookup) names: a patient
    must not put another person's personnummer on their own record."""
    anna = anna_writer(ec, world)
    record = (await anyone.get(f"/fhir/Patient/{world['anna']}", headers=anna)).json()
    record["identifier"] = [{"system": PERSONNUMMER, "value": world.numbers["bertil"]}]
    record.pop("meta", None)
    changed = await anyone.put(f"/fhir/Patient/{world['anna']}", json=record, headers=anna)
    assert changed.status_code in (403, 422), changed.text


async def test_a_patient_claiming_a_personnummer_does_not_get_that_persons_plans_filed_or_answered(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """If the claim above goes through: NPÖ (a service) asks for Bertil by personnummer and must
    get Bertil's plans, not Anna's."""
    anna = anna_writer(ec, world)
    record = (await anyone.get(f"/fhir/Patient/{world['anna']}", headers=anna)).json()
    record["identifier"] = [{"system": PERSONNUMMER, "value": world.numbers["bertil"]}]
    record.pop("meta", None)
    await anyone.put(f"/fhir/Patient/{world['anna']}", json=record, headers=anna)
    npo = bearer(mint(rsa, scope="system/*.rs", client_id="npo-platform"))
    envelope = care_plans_request(world.numbers["bertil"])
    answer = await anyone.post(
        "/riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21",
        content=envelope,
        headers={**npo, "Content-Type": "text/xml"},
    )
    assert answer.status_code == 200, answer.text
    assert "Intern planering" not in answer.text, "NPÖ answered Bertil's personnummer with Anna's plans"


@pytest.mark.parametrize("spelling", ["patient/{id}", "Patient/{id}/", " Patient/{id}", "/Patient/{id}", "#{id}"])
async def test_legacy_data_with_an_odd_patient_reference_is_hidden_and_found(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey, secure_app: FastAPI, spelling: str
) -> None:
    """Stored before the rule, naming Bertil in a spelling the parser does not read: it must be
    hidden like every other form the policy cannot place, and `db check` must list it."""
    from fhirbridge.maintenance import references
    from tests.security.test_legacy_references import store_as_before

    repository = secure_app.state.context.repository
    subject = {"reference": spelling.format(id=world["bertil"])}
    plan = builders.care_plan("x", subject=subject, title="Bertils gamla plan")
    await store_as_before(repository.database, "legacy-odd", plan)
    anna = patient_token(ec, world, "anna")
    read = await anyone.get("/fhir/CarePlan/legacy-odd", headers=anna)
    history = await anyone.get("/fhir/_history", params={"_count": "500"}, headers=anna)
    found = [f.reference async for f in references.find(repository, ("http://fhirbridge.test/fhir",))]
    assert read.status_code == 404 and "Bertils gamla plan" not in history.text, read.text[:200]
    assert "CarePlan/legacy-odd" in found


async def test_a_snapshot_cursor_of_another_caller_does_not_page_their_results(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    first = await anyone.get("/fhir/CarePlan", params={"_sort": "-_lastUpdated", "_count": "1"}, headers=admin(rsa))
    following = link(first.json(), "next")
    assert following is not None and "_cursor=s" in following
    anna = patient_token(ec, world, "anna")
    seen = set()
    url: str | None = following
    while url:
        page = await anyone.get(url, headers=anna)
        if page.status_code != 200:
            break
        seen |= set(match_ids(page.json()))
        url = link(page.json(), "next")
    assert not seen & {world["bertil-plan"]}, seen


async def test_held_a_patient_cannot_widen_their_compartment(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    bertils = {world[n] for n in ("bertil", "bertil-plan", "bertil-goal", "bertil-team", "bertil-relative")}
    for path, params in [
        ("/fhir/Patient", [("_id", world["bertil"])]),
        ("/fhir/Patient", [("link", f"Patient/{world['bertil']}")]),
        ("/fhir/CarePlan", [("subject", f"Patient/{world['bertil']}"), ("subject", f"Patient/{world['anna']}")]),
        ("/fhir/CarePlan", [("_include:iterate", "CarePlan:subject"), ("_revinclude:iterate", "CarePlan:subject")]),
        ("/fhir/Organization", [("_revinclude", "CareTeam:participant")]),
        ("/fhir/PractitionerRole", [("_revinclude", "CarePlan:performer"), ("_revinclude", "CareTeam:participant")]),
        ("/fhir/Practitioner", [("_revinclude", "Provenance:agent")]),
        ("/fhir/Provenance", [("_include", "Provenance:target")]),
        ("/fhir/Goal", [("_summary", "count")]),
        ("/fhir/CareTeam", [("_elements", "subject"), ("_sort", "-_lastUpdated")]),
        ("/fhir/AuditEvent", [("patient", f"Patient/{world['bertil']}")]),
        ("/fhir/Subscription", []),
    ]:
        response = await anyone.get(path, params=params, headers=anna)
        got = (
            {e["resource"].get("id") for e in response.json().get("entry", [])}
            if response.status_code == 200
            else set()
        )
        assert not got & bertils, (path, params, got & bertils)
        assert "total" not in response.json() or response.json()["total"] <= 2, (path, params, response.text[:300])
    for path in (
        f"/fhir/CarePlan/{world['bertil-plan']}/_history/1",
        f"/fhir/CarePlan/{world['anna-internal-plan']}",
        f"/fhir/CarePlan/{world['anna-internal-plan']}/$revisions",
        f"/fhir/RelatedPerson/{world['bertil-relative']}",
        f"/overview/{world['bertil']}",
    ):
        assert (await anyone.get(path, headers=anna)).status_code == 404, path


async def test_held_a_patient_cannot_write_into_another_patients_data_by_any_reference_form(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = anna_writer(ec, world)
    bertil = world["bertil"]
    number = {"system": PERSONNUMMER, "value": world.numbers["bertil"]}
    forms: list[dict[str, Any]] = [
        {"reference": f"Patient/{bertil}"},
        {"reference": f"Patient/{bertil}/_history/1"},
        {"reference": f"http://fhirbridge.test/fhir/Patient/{bertil}"},
        {"reference": f"HTTP://FHIRBRIDGE.TEST/fhir/Patient/{bertil}"},
        {"reference": f"http://fhirbridge.test/fhir/Patient/{bertil}/"},
        {"reference": f"http://fhirbridge.test:80/fhir/Patient/{bertil}"},
        {"reference": f"http://fhirbridge.test/fhir//Patient/{bertil}"},
        {"reference": f"https://evil.example/fhir/Patient/{bertil}"},
        {"reference": f"Patient/{bertil}", "type": "Group"},
        {"reference": f"Patient/{bertil}", "type": "Practitioner"},
        {"identifier": number},
        {"identifier": number, "type": "Patient"},
        {"identifier": number, "type": "RelatedPerson"},
        {"identifier": number, "type": "Practitioner"},
        {"identifier": {"value": world.numbers["bertil"]}},
        {"reference": f"Patient/{world['anna']}", "identifier": number},
        {"reference": "urn:uuid:6c4e8f8a-9a0a-4c55-8c1b-1f2e3d4c5b6a"},
        {"display": "Bertil"},
        {"reference": "#p"},
    ]
    for form in forms:
        for resource in (
            dict(
                builders.appointment(world["anna"], world["doctor"]),
                participant=[
                    {"actor": {"reference": f"Patient/{world['anna']}"}, "status": "accepted"},
                    {"actor": form, "status": "accepted"},
                ],
            ),
            dict(builders.communication(world["anna"], world["doctor"]), recipient=[form]),
            dict(builders.goal(world["anna"]), subject=form),
            {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": f"Patient/{world['anna']}"},
                "participant": [{"member": form}],
            },
        ):
            if form == {"reference": "#p"}:
                resource["contained"] = [dict(builders.patient(), id="p")]
            response = await anyone.post(f"/fhir/{resource['resourceType']}", json=resource, headers=anna)
            if response.status_code == 201:
                stored = response.json()
                assert bertil not in json.dumps(stored), (form, resource["resourceType"], stored)
    for plan in ("bertil-plan", "bertil-goal", "bertil-team"):
        kind = {"bertil-plan": "CarePlan", "bertil-goal": "Goal", "bertil-team": "CareTeam"}[plan]
        entry = {
            "resource": dict(own_goal(world), id=world[plan]) if kind == "Goal" else None,
            "request": {"method": "DELETE", "url": f"{kind}/{world[plan]}"},
        }
        entry.pop("resource")
        done = await anyone.post("/fhir", json=transaction(entry), headers=anna)
        assert done.status_code in (200, 403, 404), (plan, done.text)  # 200: nothing of hers to delete
        still = await anyone.get(f"/fhir/{kind}/{world[plan]}", headers=admin(ec))
        assert still.status_code == 200, (plan, still.text)


# -- blocks (spärr) ------------------------------------------------------------------------------


async def test_a_unit_with_consent_cannot_lift_the_patients_block(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Consent does not open blocked information; the unit it was given to must not be able to
    switch the block off either."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    block = await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    stranger = user_token(rsa, world, "stranger", "outsider")
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    assert (await anyone.get(plan, headers=stranger)).status_code == 403
    lifted = dict(block, status="inactive")
    lifted.pop("meta", None)
    await anyone.put(f"/fhir/Consent/{block['id']}", json=lifted, headers=stranger)
    await anyone.delete(f"/fhir/Consent/{block['id']}", headers=stranger)
    assert (await anyone.get(plan, headers=stranger)).status_code == 403


async def test_a_services_subscription_does_not_deliver_blocked_information(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI
) -> None:
    """Systems without a unit: "scopes apply, blocks apply". A Subscription's payload is sent
    whole; it must not carry a plan the patient has blocked."""
    await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    service = bearer(mint(rsa, scope="system/*.cruds", client_id="npo-platform"))
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=service)).status_code in (403, 404)
    body = builders.subscription(f"CarePlan?subject=Patient/{world['anna']}", payload="application/fhir+json")
    created = await anyone.post("/fhir/Subscription", json=body, headers=service)
    assert created.status_code == 201, created.text
    doctor = user_token(rsa, world, "doctor", "hospital")
    plan = (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=doctor)).json()
    plan["description"] = "Ändrad inom kliniken"
    assert (await anyone.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=doctor)).status_code == 200
    assert await outbox.pending(database(secure_app)) == 0, "the blocked plan is owed to the service's endpoint"


# -- the adapters ---------------------------------------------------------------------------------


async def test_npo_never_gives_a_patient_plans_not_approved_for_them(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    """(The NPÖ check in test_patient_isolation.py sends no LogicalAddress and only ever sees a fault.)"""
    anna = patient_token(ec, world, "anna")
    path = "/riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21"
    headers = {**anna, "Content-Type": "text/xml"}
    own = await anyone.post(path, content=care_plans_request(world.numbers["anna"]), headers=headers)
    assert own.status_code == 200, own.text
    assert "Intern planering" not in own.text
    other = await anyone.post(path, content=care_plans_request(world.numbers["bertil"]), headers=headers)
    assert other.status_code == 200 and "Patientkontrakt" not in other.text, other.text


@pytest.mark.parametrize("form", ["versioned", "nested"])
async def test_a_block_written_in_an_accepted_form_blocks(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, form: str
) -> None:
    """The reference rule stores `Type/id/_history/n` as is; a block (spärr) naming its unit so,
    or as a nested deny provision, must still block and not silently fail open."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    stranger = user_token(rsa, world, "stranger", "outsider")
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    assert (await anyone.get(plan, headers=stranger)).status_code == 200
    if form == "versioned":
        block = builders.consent(
            world["anna"], f"Organization/{world['hospital']}/_history/1", provision="deny", role="CST"
        )
    else:
        inner = builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
        block = dict(inner, provision={"type": "permit", "provision": [inner["provision"]]})
    written = await anyone.post("/fhir/Consent", json=block, headers=admin(rsa))
    if written.status_code != 201:
        return  # refused outright: the writer knows the block did not take
    assert (await anyone.get(plan, headers=stranger)).status_code == 403


async def test_a_block_covers_communications_sent_by_the_units_practitioner(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """ "Communications sent from there are hidden from everyone outside that unit"."""
    message = builders.communication(world["anna"], world["stranger"], "Känsligt från kliniken")
    message["sender"] = {"reference": f"Practitioner/{world['doctor']}"}
    sent = await admin_post(anyone, rsa, message)
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    stranger = user_token(rsa, world, "stranger", "outsider")
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=stranger)).status_code == 403
    assert (await anyone.get(f"/fhir/Communication/{sent['id']}", headers=stranger)).status_code == 403


async def test_x_provenance_cannot_put_data_into_another_patients_compartment(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """The server writes the Provenance from the client's X-Provenance header without the
    caller's checks: a contained resource about Bertil must not ride along."""
    anna = anna_writer(ec, world)
    claim = {
        "resourceType": "Provenance",
        "contained": [
            dict(builders.goal(world["bertil"], "Injicerat mål för Bertil"), id="g1"),
        ],
        "entity": [{"role": "source", "what": {"reference": "#g1"}}],
        "agent": [{"who": {"reference": f"Patient/{world['anna']}"}}],
    }
    written = await anyone.post("/fhir/Goal", json=own_goal(world), headers={**anna, "X-Provenance": json.dumps(claim)})
    bertils = await anyone.get("/fhir/Provenance/_history", params={"_count": "500"}, headers=admin(rsa))
    assert "Injicerat mål för Bertil" not in bertils.text, written.status_code


async def test_the_overview_refuses_an_outsider_cleanly(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    stranger = user_token(rsa, world, "stranger", "outsider")
    for accept in ("application/json", "text/html"):
        page = await anyone.get(f"/overview/{world['anna']}", headers={**stranger, "Accept": accept})
        assert page.status_code in (403, 404), page.text[:300]
        assert "affären" not in page.text and "Patientkontrakt" not in page.text


async def test_a_unit_system_does_not_read_other_units_lookups_in_the_access_log(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The stranger looks Bertil up by personnummer (nothing shown); another unit's system with
    an AuditEvent scope must not learn whom the stranger looked for."""
    stranger = user_token(rsa, world, "stranger", "outsider")
    await anyone.get(
        "/fhir/Patient", params={"identifier": f"{PERSONNUMMER}|{world.numbers['bertil']}"}, headers=stranger
    )
    other = unit_system(rsa, world, "other-outsider", scope="system/AuditEvent.rs")
    log = await anyone.get("/fhir/AuditEvent", params={"_count": "500"}, headers=other)
    assert log.status_code == 200
    queries = [
        base64.b64decode(item["query"]).decode(errors="replace")
        for entry in log.json().get("entry", [])
        for item in entry["resource"].get("entity", [])
        if "query" in item
    ]
    assert not any(world.numbers["bertil"] in q for q in queries), queries


async def test_the_blocked_unit_cannot_lift_the_patients_block_on_itself(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A block is the patient's decision; the hospital it names must not be able to switch it off."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    block = await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    doctor = user_token(rsa, world, "doctor", "hospital")
    lifted = dict(block, status="inactive")
    lifted.pop("meta", None)
    response = await anyone.put(f"/fhir/Consent/{block['id']}", json=lifted, headers=doctor)
    assert response.status_code == 403, response.text

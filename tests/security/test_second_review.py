"""A second, independent review of patient isolation and the Patient Data Act (after the fixes of
the first review, tests/security/test_review_attacks.py).

Kept as regression tests: each states what must happen when an attacker tries it (a refusal
that tells nothing either way passes as well as an equal answer).  The attackers: a patient's
token (Anna), a relative's token, a clinician of an unrelated unit (the stranger at
"outsider"), a clinician with consent only or with emergency access, a clinician of a blocked
unit (the doctor at "hospital"), a system token acting for an unrelated unit, and another
service's client.
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import httpx
import pytest

from fhirbridge.sweden.identifiers import RESERVNUMMER_SYSTEM
from tests.security.callers import (
    admin,
    admin_post,
    anna_writer,
    doctor,
    stranger,
    transaction,
    unit_system,
)
from tests.security.test_review_attacks import shape
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import NOT_FOR_PATIENT, PERSONNUMMER, World, patient_token, user_token
from tests.support import builders
from tests.support.api import link, match_ids


def ids_or_refused(found: httpx.Response) -> list[str]:
    """The matches of a probe, or ``refused`` when it is refused outright (which tells nothing either way)."""
    if found.status_code == 403:
        return ["refused"]
    assert found.status_code == 200, found.text
    return match_ids(found.json())


async def consent_and_block(anyone: httpx.AsyncClient, key: SigningKey, world: World, patient: str = "anna") -> None:
    """The patient consents to the outsider unit reading, and blocks (spärr) the hospital."""
    await admin_post(anyone, key, builders.consent(world[patient], f"Organization/{world['outsider']}"))
    await admin_post(
        anyone, key, builders.consent(world[patient], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )


def entries(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    return [e["resource"] for e in body.get("entry", [])] if isinstance(body, dict) else []


def patientless_note(world: World, **extra: Any) -> dict[str, Any]:
    """A Communication naming no patient (no subject, sender or recipient that is a Patient)."""
    return {
        "resourceType": "Communication",
        "status": "completed",
        "sender": {"reference": f"Practitioner/{world['stranger']}"},
        "payload": [{"contentString": "Anteckning"}],
        **extra,
    }


# -- 1. includes with :iterate walk through what the caller may not see ----------------------------


async def test_iterated_includes_do_not_walk_through_hidden_resources_to_who_treats_another_patient(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The stranger writes a note naming no patient that points at Bertil's record, and searches it
    with iterated includes: Bertil's Patient and care teams are hidden, and so must be the
    people and units they lead to (who treats Bertil is Bertil's data)."""
    outsider = stranger(rsa, world)
    note = patientless_note(world, basedOn=[{"reference": f"Patient/{world['bertil']}"}])
    written = await anyone.post("/fhir/Communication", json=note, headers=outsider)
    assert written.status_code == 201, written.text
    found = await anyone.get(
        "/fhir/Communication",
        params=[
            ("_id", written.json()["id"]),
            ("_include", "Communication:based-on"),
            ("_revinclude:iterate", "CareTeam:subject"),
            ("_include:iterate", "CareTeam:participant"),
            ("_include:iterate", "PractitionerRole:practitioner"),
        ],
        headers=outsider,
    )
    assert found.status_code == 200, found.text
    leaked = {f"{r['resourceType']}/{r['id']}" for r in entries(found)} & {
        f"PractitionerRole/{world['doctor-role']}",
        f"Practitioner/{world['doctor']}",
    }
    assert not leaked, f"Bertil's care team members were included through hidden resources: {leaked}"


async def test_a_patients_iterated_includes_do_not_walk_through_another_patients_records(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna starts from her own care team; iterating through the doctor's other (hidden) teams
    and Bertil's (hidden) Patient must not bring Bertil's general practitioner along."""
    bertil = (await anyone.get(f"/fhir/Patient/{world['bertil']}", headers=admin(rsa))).json()
    bertil["generalPractitioner"] = [{"reference": f"Practitioner/{world['helper']}"}]
    assert (await anyone.put(f"/fhir/Patient/{world['bertil']}", json=bertil, headers=admin(rsa))).status_code == 200
    anna = patient_token(ec, world, "anna")
    found = await anyone.get(
        "/fhir/CareTeam",
        params=[
            ("_id", world["anna-team"]),
            ("_include:iterate", "CareTeam:participant"),
            ("_revinclude:iterate", "CareTeam:participant"),
            ("_include:iterate", "CareTeam:subject"),
            ("_include:iterate", "Patient:general-practitioner"),
        ],
        headers=anna,
    )
    assert found.status_code == 200, found.text
    assert world["helper"] not in found.text, "Bertil's GP reached Anna through Bertil's hidden team and record"


# -- 2. chained search evaluates what the caller may not see ----------------------------------------


async def test_an_outsiders_chained_search_does_not_test_another_patients_plan(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A note naming no patient, based on Bertil's plan: the chain must not evaluate the plan
    (or its patient) for the stranger, who may not see either."""
    outsider = stranger(rsa, world)
    note = patientless_note(world, basedOn=[{"reference": f"CarePlan/{world['bertil-plan']}"}])
    written = await anyone.post("/fhir/Communication", json=note, headers=outsider)
    assert written.status_code == 201, written.text

    async def probe(criterion: str, value: str) -> list[str]:
        found = await anyone.get(
            "/fhir/Communication", params=[("_id", written.json()["id"]), (criterion, value)], headers=outsider
        )
        return ids_or_refused(found)

    hit = await probe("based-on:CarePlan.subject:Patient.identifier", f"{PERSONNUMMER}|{world.numbers['bertil']}")
    miss = await probe("based-on:CarePlan.subject:Patient.identifier", f"{PERSONNUMMER}|{builders.personnummer()}")
    assert hit == miss, "the chain told the stranger whose plan this is (Bertil's personnummer)"
    hit = await probe("based-on:CarePlan.status", "active")
    miss = await probe("based-on:CarePlan.status", "revoked")
    assert hit == miss, "the chain told the stranger the status of Bertil's plan"


async def test_a_consented_readers_chain_does_not_read_a_blocked_plan(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=outsider)).status_code == 403
    note = patientless_note(world, basedOn=[{"reference": f"CarePlan/{world['anna-plan']}"}])
    written = await anyone.post("/fhir/Communication", json=note, headers=outsider)
    assert written.status_code == 201, written.text

    async def probe(value: str) -> list[str]:
        found = await anyone.get(
            "/fhir/Communication",
            params=[("_id", written.json()["id"]), ("based-on:CarePlan.goal:Goal.lifecycle-status", value)],
            headers=outsider,
        )
        return match_ids(found.json())

    assert await probe("active") == await probe("cancelled"), "the chain read the blocked plan's goal"


# -- 3. services: blocks apply, but _has, counts and scopes -----------------------------------------


async def test_a_services_reverse_chain_does_not_read_blocked_plans(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Services may use _has; blocks apply to them ("scopes apply, blocks apply")."""
    await consent_and_block(anyone, rsa, world)
    service = bearer(mint(rsa, scope="system/*.rs", client_id="npo-platform"))
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=service)).status_code in (403, 404)

    async def probe(status: str) -> list[str]:
        found = await anyone.get(
            "/fhir/Patient",
            params=[("_id", world["anna"]), ("_has:CarePlan:subject:status", status)],
            headers=service,
        )
        return ids_or_refused(found)

    # Anna has two plans: the blocked contract (hospital) and the internal plan (also the hospital's).
    assert await probe("active") == await probe("revoked"), "_has told the service of a blocked plan"


async def test_a_services_count_does_not_count_blocked_plans(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await consent_and_block(anyone, rsa, world)
    service = bearer(mint(rsa, scope="system/*.rs", client_id="npo-platform"))

    async def count(status: str) -> Any:
        found = await anyone.get(
            "/fhir/CarePlan",
            params={"subject": f"Patient/{world['anna']}", "status": status, "_summary": "count"},
            headers=service,
        )
        assert found.status_code == 200, found.text
        return found.json().get("total")

    assert await count("active") == await count("revoked"), "the total counts plans the service may not see"


async def test_reverse_chain_needs_the_scope_of_the_type_it_searches(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A service allowed to read Patients only must not search CarePlans through _has."""
    service = bearer(mint(rsa, scope="system/Patient.rs", client_id="patient-index"))
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=service)).status_code == 403

    async def probe(status: str) -> httpx.Response:
        return await anyone.get(
            "/fhir/Patient",
            params=[("_id", world["anna"]), ("_has:CarePlan:subject:status", status)],
            headers=service,
        )

    hit, miss = await probe("active"), await probe("revoked")
    assert hit.status_code == 403 or match_ids(hit.json()) == match_ids(miss.json()), hit.text


# -- 4. blocks: forms and states the owners table misses --------------------------------------------


async def test_a_deleted_blocked_plans_history_stays_blocked(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    plan = world["anna-plan"]
    assert (await anyone.get(f"/fhir/CarePlan/{plan}", headers=outsider)).status_code == 403
    # The hospital (inside the block) deletes its own plan.
    deleted = await anyone.delete(f"/fhir/CarePlan/{plan}", headers=doctor(rsa, world))
    assert deleted.status_code in (200, 204), deleted.text
    old = await anyone.get(f"/fhir/CarePlan/{plan}/_history/1", headers=outsider)
    assert old.status_code in (403, 404) and "Patientkontrakt" not in old.text, old.text[:300]
    trail = await anyone.get(f"/fhir/CarePlan/{plan}/$revisions", headers=outsider)
    assert "Patientkontrakt" not in trail.text, trail.text[:300]


async def test_a_blocked_plan_marked_entered_in_error_stays_blocked(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    clinic = doctor(rsa, world)  # the hospital, inside the block, retracts its own plan
    plan = (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=clinic)).json()
    plan["status"] = "entered-in-error"
    assert (await anyone.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=clinic)).status_code == 200
    read = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=outsider)
    assert read.status_code == 403, read.text[:300]
    goal = await anyone.get(f"/fhir/Goal/{world['anna-goal']}", headers=outsider)
    assert goal.status_code == 403, goal.text[:300]


async def test_an_inactive_care_team_of_a_blocked_unit_stays_blocked(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    clinic = doctor(rsa, world)  # the hospital, inside the block, ends its own team
    team = (await anyone.get(f"/fhir/CareTeam/{world['anna-team']}", headers=clinic)).json()
    team["status"] = "inactive"
    assert (await anyone.put(f"/fhir/CareTeam/{team['id']}", json=team, headers=clinic)).status_code == 200
    read = await anyone.get(f"/fhir/CareTeam/{team['id']}", headers=outsider)
    assert read.status_code == 403, read.text[:300]


async def test_a_care_team_managed_by_the_blocked_unit_second_is_blocked(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    team = await admin_post(
        anyone,
        rsa,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "name": "Gemensamt team",
            "subject": {"reference": f"Patient/{world['anna']}"},
            "managingOrganization": [
                {"reference": f"Organization/{world['other-outsider']}"},
                {"reference": f"Organization/{world['hospital']}"},
            ],
            "participant": [{"member": {"reference": f"PractitionerRole/{world['doctor-role']}"}}],
        },
    )
    await consent_and_block(anyone, rsa, world)
    read = await anyone.get(f"/fhir/CareTeam/{team['id']}", headers=stranger(rsa, world))
    assert read.status_code == 403, "a team the blocked hospital manages (second) is shown outside it"


FORMS = ["plan-author-role-versioned", "plan-author-practitioner-versioned", "team-unit-versioned", "goal-versioned"]


@pytest.mark.parametrize("form", FORMS)
async def test_a_block_covers_its_units_information_in_every_accepted_reference_form(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, form: str
) -> None:
    """The reference rule stores ``Type/id/_history/n`` as is.  Information the blocked hospital
    wrote, naming its role, practitioner or unit in that form, must still be blocked."""
    anna = {"reference": f"Patient/{world['anna']}"}
    role, person, unit = world["doctor-role"], world["doctor"], world["hospital"]
    if form == "plan-author-role-versioned":
        made = await admin_post(
            anyone,
            rsa,
            builders.care_plan(
                world["anna"], title="Klinikens plan", author={"reference": f"PractitionerRole/{role}/_history/1"}
            ),
        )
        path = f"CarePlan/{made['id']}"
    elif form == "plan-author-practitioner-versioned":
        made = await admin_post(
            anyone,
            rsa,
            builders.care_plan(
                world["anna"], title="Klinikens plan", author={"reference": f"Practitioner/{person}/_history/1"}
            ),
        )
        path = f"CarePlan/{made['id']}"
    elif form == "team-unit-versioned":
        made = await admin_post(
            anyone,
            rsa,
            {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": anna,
                "managingOrganization": [{"reference": f"Organization/{unit}/_history/1"}],
            },
        )
        path = f"CareTeam/{made['id']}"
    else:
        goal = await admin_post(anyone, rsa, builders.goal(world["anna"], "Klinikens mål"))
        await admin_post(
            anyone,
            rsa,
            builders.care_plan(
                world["anna"],
                title="Klinikens plan",
                author={"reference": f"PractitionerRole/{role}"},
                goal=[{"reference": f"Goal/{goal['id']}/_history/1"}],
            ),
        )
        path = f"Goal/{goal['id']}"
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=outsider)).status_code == 403
    read = await anyone.get(f"/fhir/{path}", headers=outsider)
    assert read.status_code == 403, f"{form}: the blocked hospital's {path} is shown: {read.text[:200]}"


async def test_a_merge_does_not_drop_a_block_written_with_a_versioned_patient_reference(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A patient registered with a reserve number blocks the hospital (the block names the
    Patient as Patient/R/_history/1, a form the write path accepts); when the reserve record is
    merged into the personnummer record, the block must go with the person."""
    reserve = await admin_post(
        anyone,
        rsa,
        {
            "resourceType": "Patient",
            "identifier": [{"system": RESERVNUMMER_SYSTEM, "value": "RES000000017"}],
            "name": [{"family": "Okänd", "given": ["Reserv"]}],
        },
    )
    plan = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            reserve["id"], title="Akutens plan", author={"reference": f"PractitionerRole/{world['doctor-role']}"}
        ),
    )
    await admin_post(anyone, rsa, builders.consent(reserve["id"], f"Organization/{world['outsider']}"))
    block = builders.consent(reserve["id"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    block["patient"] = {"reference": f"Patient/{reserve['id']}/_history/1"}
    await admin_post(anyone, rsa, block)
    outsider = stranger(rsa, world)
    assert (await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=outsider)).status_code == 403
    identified = await admin_post(anyone, rsa, builders.patient())
    merged = await anyone.post(
        "/fhir/Patient/$merge", json=builders.merge_parameters(reserve["id"], identified["id"]), headers=admin(rsa)
    )
    assert merged.status_code == 200, merged.text
    after = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=outsider)
    assert after.status_code == 403, "the merge left the block behind: the blocked plan is shown"


# -- 5. the access log: patients read other people's activity ---------------------------------------


async def test_a_patient_does_not_read_other_peoples_lookups_in_the_access_log(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """The stranger looks for Bertil by name (nothing shown, so no patient is named in the
    entry). Anna reads the access log: she must see the entries about her, not everyone's."""
    outsider = stranger(rsa, world)
    await anyone.get(
        "/fhir/Patient", params={"family": "Bertilsson-Hemlig", "birthdate": "1912-12-12"}, headers=outsider
    )
    anna = patient_token(ec, world, "anna")
    # A search of AuditEvents writes what is pending first.
    assert (
        await anyone.get("/fhir/AuditEvent", params={"patient": f"Patient/{world['anna']}"}, headers=anna)
    ).status_code == 200
    log = await anyone.get("/fhir/AuditEvent/_history", params={"_count": "500"}, headers=anna)
    assert log.status_code == 200
    queries = [
        base64.b64decode(item["query"]).decode(errors="replace")
        for event in entries(log)
        for item in event.get("entity", [])
        if "query" in item
    ]
    agents = {(a.get("who") or {}).get("reference") for event in entries(log) for a in event.get("agent", [])}
    assert not any("Bertilsson-Hemlig" in q for q in queries), queries
    assert f"Practitioner/{world['stranger']}" not in agents, "Anna reads who else used the service, and how"


async def test_a_patient_does_not_read_another_persons_reserve_number_in_the_access_log(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """The masking covers personnummer; a combined lookup with a reserve number (which names a
    person just as well) must not show it to Anna either."""
    await admin_post(
        anyone,
        rsa,
        {"resourceType": "Patient", "identifier": [{"system": RESERVNUMMER_SYSTEM, "value": "RES000000042"}]},
    )
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    both = f"{PERSONNUMMER}|{world.numbers['anna']},{RESERVNUMMER_SYSTEM}|RES000000042"
    found = await anyone.get("/fhir/Patient", params={"identifier": both}, headers=stranger(rsa, world))
    assert match_ids(found.json()) == [world["anna"]]
    anna = patient_token(ec, world, "anna")
    log = await anyone.get(
        "/fhir/AuditEvent", params={"patient": f"Patient/{world['anna']}", "_count": "500"}, headers=anna
    )
    decoded = [
        base64.b64decode(item["query"]).decode(errors="replace")
        for event in entries(log)
        for item in event.get("entity", [])
        if "query" in item
    ]
    assert not any("RES000000042" in q for q in decoded), decoded


# -- 6. sorted searches (a known residual: confirmed and taken further) -----------------------------


async def test_a_sorted_search_does_not_tell_an_outsider_whether_a_personnummer_has_a_record(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    outsider = stranger(rsa, world)
    known = f"{PERSONNUMMER}|{world.numbers['anna']}"

    async def pages(number: str) -> int:
        url: str | None = "/fhir/Patient"
        params: dict[str, str] | None = {
            "identifier": f"{known},{PERSONNUMMER}|{number}",
            "_sort": "_id",
            "_count": "1",
        }
        count = 0
        while url and count < 5:
            page = await anyone.get(url, params=params, headers=outsider)
            assert page.status_code == 200, page.text
            count, url, params = count + 1, link(page.json(), "next"), None
        return count

    assert await pages(world.numbers["bertil"]) == await pages(builders.personnummer())


async def test_a_sorted_search_does_not_tell_a_patient_of_plans_not_approved_for_them(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    first = await anyone.get("/fhir/CarePlan", params={"_sort": "-_lastUpdated", "_count": "1"}, headers=anna)
    assert first.status_code == 200
    # Anna sees one plan; a page without it, or a next link past it, tells of the hidden one.
    assert match_ids(first.json()) == [world["anna-plan"]] and link(first.json(), "next") is None, first.text[:400]


# -- 7. one number, one person: the 409 as an oracle -------------------------------------------------


async def test_a_unit_system_cannot_find_a_personnummer_by_registering_it(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    outsider = unit_system(rsa, world)

    async def probe(number: str) -> httpx.Response:
        return await anyone.post("/fhir/Patient", json=builders.patient(number), headers=outsider)

    hit, miss = await probe(world.numbers["bertil"]), await probe(builders.personnummer())
    assert shape(hit)[0] == shape(miss)[0], (hit.status_code, hit.text[:300], miss.status_code)


async def test_a_clinician_cannot_find_a_personnummer_by_adding_it_to_their_patient(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The outsider unit treats Anna (a care team), not Bertil."""
    await admin_post(
        anyone,
        rsa,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{world['anna']}"},
            "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
        },
    )
    outsider = stranger(rsa, world)
    record = (await anyone.get(f"/fhir/Patient/{world['anna']}", headers=outsider)).json()

    async def probe(number: str) -> httpx.Response:
        changed = dict(record, identifier=[*record["identifier"], {"system": PERSONNUMMER, "value": number}])
        changed.pop("meta", None)
        return await anyone.put(f"/fhir/Patient/{world['anna']}", json=changed, headers=outsider)

    hit = await probe(world.numbers["bertil"])
    miss = await probe(builders.personnummer())
    assert hit.status_code == miss.status_code or (hit.status_code >= 400 and miss.status_code >= 400), (
        hit.status_code,
        hit.text[:300],
        miss.status_code,
    )


# -- 8. systems acting for a unit, and the "first care relation" -----------------------------------


async def unconnected_patient(anyone: httpx.AsyncClient, key: SigningKey, world: World) -> dict[str, str]:
    """A patient with records (a goal, an appointment) but no care team or plan yet."""
    person = await admin_post(anyone, key, builders.patient(family="Carlsson", given="Cecilia"))
    goal = await admin_post(anyone, key, builders.goal(person["id"], "Ceciliaś eget mål"))
    return {"patient": person["id"], "goal": goal["id"]}


async def test_a_unit_system_cannot_make_itself_the_first_care_relation(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The first care team is the region's integration's to write; a system acting for an
    unrelated unit must not become a care relation (and read the patient's records)."""
    c = await unconnected_patient(anyone, rsa, world)
    outsider = unit_system(rsa, world)
    assert (await anyone.get(f"/fhir/Goal/{c['goal']}", headers=outsider)).status_code == 403
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{c['patient']}"},
        "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
    }
    await anyone.post("/fhir/CareTeam", json=team, headers=outsider)
    assert (await anyone.get(f"/fhir/Goal/{c['goal']}", headers=outsider)).status_code == 403


async def test_a_unit_system_without_a_care_relation_cannot_rewrite_a_patient(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    c = await unconnected_patient(anyone, rsa, world)
    outsider = unit_system(rsa, world)
    changed = dict(builders.patient(family="Annan", given="Person"), id=c["patient"])
    response = await anyone.put(f"/fhir/Patient/{c['patient']}", json=changed, headers=outsider)
    assert response.status_code == 403, response.text[:300]


async def test_a_unit_system_without_a_care_relation_cannot_merge_two_people(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    first = await admin_post(anyone, rsa, builders.patient(family="Först"))
    second = await admin_post(
        anyone,
        rsa,
        {"resourceType": "Patient", "identifier": [{"system": RESERVNUMMER_SYSTEM, "value": "RES000000099"}]},
    )
    outsider = unit_system(rsa, world)
    merged = await anyone.post(
        "/fhir/Patient/$merge", json=builders.merge_parameters(second["id"], first["id"]), headers=outsider
    )
    assert merged.status_code in (403, 404), merged.text[:300]


async def test_a_system_client_named_like_a_care_team_member_is_not_that_member(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A system's subject is its client id: it must not be compared with the people on a team."""
    token = bearer(
        mint(
            rsa,
            scope="system/*.rs",
            client_id=f"PractitionerRole/{world['doctor-role']}",
            organization=f"Organization/{world['outsider']}",
        )
    )
    read = await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=token)
    assert read.status_code == 403, read.text[:300]


# -- 9. a patient's token --------------------------------------------------------------------------


async def test_a_patients_token_does_not_make_a_unit_a_writing_care_relation(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna (or whoever holds her app's token) names the outsider unit on a care team: consent
    is for reading, and a care relation is not the patient's to create."""
    anna = anna_writer(ec, world)
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['anna']}"},
        "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
    }
    await anyone.post("/fhir/CareTeam", json=team, headers=anna)
    outsider = stranger(rsa, world)
    goal = (await anyone.get(f"/fhir/Goal/{world['anna-goal']}", headers=admin(rsa))).json()
    goal["description"] = {"text": "Ändrat av en främmande enhet"}
    changed = await anyone.put(f"/fhir/Goal/{goal['id']}", json=goal, headers=outsider)
    assert changed.status_code == 403, changed.text[:300]


async def test_a_patient_cannot_find_another_patients_relative_by_personnummer(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    number = builders.personnummer()
    relative = dict(builders.related_person(world["bertil"]), identifier=[{"system": PERSONNUMMER, "value": number}])
    hidden = await admin_post(anyone, rsa, relative)
    anna = anna_writer(ec, world)

    async def probe(value: str) -> httpx.Response:
        message = builders.communication(world["anna"], world["doctor"], "Till min anhörig")
        message["recipient"] = [{"identifier": {"system": PERSONNUMMER, "value": value}, "type": "RelatedPerson"}]
        return await anyone.post("/fhir/Communication", json=message, headers=anna)

    hit, miss = await probe(number), await probe(builders.personnummer())
    assert hidden["id"] not in hit.text, "the answer names Bertil's relative's RelatedPerson id"
    assert shape(hit)[0] == shape(miss)[0], (hit.status_code, hit.text[:300], miss.status_code)


async def test_a_patients_link_to_another_patient_tells_nothing(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    """Anna writes a replaced-by link on her own Patient: refused, with an answer that names
    neither Bertil's state nor resources of hers that are hidden from her."""
    anna = anna_writer(ec, world)
    record = (await anyone.get(f"/fhir/Patient/{world['anna']}", headers=anna)).json()
    record.pop("meta", None)

    async def probe(other: str) -> httpx.Response:
        linked = dict(record, link=[{"other": {"reference": f"Patient/{other}"}, "type": "replaced-by"}])
        return await anyone.put(f"/fhir/Patient/{world['anna']}", json=linked, headers=anna)

    hit, miss = await probe(world["bertil"]), await probe("00000000-0000-4000-8000-000000000000")
    assert hit.status_code >= 400
    assert world["anna-internal-plan"] not in hit.text, "the refusal names a plan not approved for Anna"
    assert shape(hit) == shape(miss), (hit.text, miss.text)


async def test_a_patient_does_not_see_the_goals_of_a_plan_not_approved_for_them(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    goal = await admin_post(anyone, rsa, builders.goal(world["anna"], "Intern bedömning: risk för återfall"))
    await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Intern plan med mål",
            author={"reference": f"PractitionerRole/{world['doctor-role']}"},
            goal=[{"reference": f"Goal/{goal['id']}"}],
            meta={"security": [NOT_FOR_PATIENT]},
        ),
    )
    anna = patient_token(ec, world, "anna")
    read = await anyone.get(f"/fhir/Goal/{goal['id']}", headers=anna)
    assert read.status_code == 404 and "återfall" not in read.text, read.text[:300]


# -- 10. consent, emergency access, blocked unit: no writing, no moving -----------------------------


async def test_a_reader_with_consent_cannot_merge_the_patient_into_a_patient_of_their_own(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    mine = await admin_post(anyone, rsa, builders.patient(family="Egen"))
    await admin_post(
        anyone,
        rsa,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{mine['id']}"},
            "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
        },
    )
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    outsider = stranger(rsa, world)
    for source, target in ((world["anna"], mine["id"]), (mine["id"], world["anna"])):
        merged = await anyone.post(
            "/fhir/Patient/$merge", json=builders.merge_parameters(source, target), headers=outsider
        )
        assert merged.status_code in (403, 404, 422), merged.text[:300]
    assert (await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}", headers=outsider)).status_code == 403


async def test_an_emergency_reader_cannot_write_or_record_consent(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    helper = user_token(rsa, world, "helper", "other-outsider")
    asked = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "Akut"}]}
    granted = await anyone.post(f"/fhir/Patient/{world['bertil']}/$emergency-access", json=asked, headers=helper)
    assert granted.status_code == 200, granted.text
    consent = builders.consent(world["bertil"], f"Organization/{world['other-outsider']}")
    assert (await anyone.post("/fhir/Consent", json=consent, headers=helper)).status_code == 403
    entry = {"resource": consent, "request": {"method": "POST", "url": "Consent"}}
    assert (await anyone.post("/fhir", json=transaction(entry), headers=helper)).status_code == 403


async def test_the_blocked_unit_cannot_unblock_by_re_authoring_its_plan_elsewhere_in_a_transaction(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The blocked hospital changes nothing of the block; it may change its own plan. What it
    may not do is lift the block: a PUT of the block inside a transaction is refused too."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    block = await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    lifted = dict(block, status="inactive")
    lifted.pop("meta", None)
    entry = {"resource": lifted, "request": {"method": "PUT", "url": f"Consent?_id={block['id']}"}}
    done = await anyone.post("/fhir", json=transaction(entry), headers=doctor(rsa, world))
    assert done.status_code in (403, 412), done.text[:300]
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=stranger(rsa, world))).status_code == 403


# -- 11. relatives ---------------------------------------------------------------------------------


async def test_a_relative_without_the_patients_share_sees_nothing_anywhere(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    relative = bearer(
        mint(ec, scope="patient/*.rs", fhirUser=f"RelatedPerson/{world['anna-relative']}", patient=world["anna"])
    )
    for path in (
        f"/fhir/CarePlan/{world['anna-plan']}",
        f"/overview/{world['anna']}",
        f"/fhir/Patient/{world['anna']}/$fixed-contacts",
    ):
        response = await anyone.get(path, headers={**relative, "Accept": "application/json"})
        assert response.status_code in (403, 404), (path, response.text[:300])
    history = await anyone.get("/fhir/_history", params={"_count": "500"}, headers=relative)
    assert world["anna-plan"] not in history.text and world["anna-goal"] not in history.text


# -- 12. a write racing a merge ----------------------------------------------------------------------


async def test_a_write_racing_a_merge_is_not_left_under_the_replaced_record(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Many goals are written for a reserve-number record while it is merged: each goal either
    moved with the merge or was refused; none is left filed under the replaced Patient."""
    reserve = await admin_post(
        anyone,
        rsa,
        {"resourceType": "Patient", "identifier": [{"system": RESERVNUMMER_SYSTEM, "value": "RES000000077"}]},
    )
    target = await admin_post(anyone, rsa, builders.patient(family="Identifierad"))

    async def goal(n: int) -> httpx.Response:
        return await anyone.post("/fhir/Goal", json=builders.goal(reserve["id"], f"Mål {n}"), headers=admin(rsa))

    async def merge() -> httpx.Response:
        await asyncio.sleep(0)
        return await anyone.post(
            "/fhir/Patient/$merge", json=builders.merge_parameters(reserve["id"], target["id"]), headers=admin(rsa)
        )

    results = await asyncio.gather(*(goal(n) for n in range(6)), merge(), *(goal(n) for n in range(6, 12)))
    assert results[6].status_code == 200, results[6].text
    left = await anyone.get("/fhir/Goal", params={"subject": f"Patient/{reserve['id']}"}, headers=admin(rsa))
    assert match_ids(left.json()) == [], "goals stayed filed under the replaced Patient"


# -- 13. things that should hold (regression guards for what was tried and held) -------------------


async def test_held_reference_forms_on_the_patient_link_of_a_stranger_note(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A note the stranger writes naming Bertil on a patient link, in any form, is Bertil's
    data (refused: no care relation), never a note everyone can read."""
    outsider = stranger(rsa, world)
    number = {"system": PERSONNUMMER, "value": world.numbers["bertil"]}
    for form in (
        {"reference": f"Patient/{world['bertil']}"},
        {"reference": f"Patient/{world['bertil']}/_history/1"},
        {"reference": f"http://fhirbridge.test/fhir/Patient/{world['bertil']}"},
        {"reference": f"Patient/{world['bertil']}", "type": "Organization"},
        {"identifier": number},
        {"identifier": number, "type": "Patient"},
    ):
        response = await anyone.post(
            "/fhir/Communication", json=patientless_note(world, recipient=[form]), headers=outsider
        )
        assert response.status_code in (400, 403, 422), (form, response.status_code, response.text[:200])


async def test_held_a_snapshot_cursor_does_not_cross_types(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    first = await anyone.get("/fhir/CarePlan", params={"_sort": "_id", "_count": "1"}, headers=admin(rsa))
    following = link(first.json(), "next")
    assert following is not None
    cursor = re.search(r"_cursor=([^&]+)", following)
    assert cursor is not None
    other = await anyone.get(
        "/fhir/Goal",
        params={"_sort": "_id", "_count": "1", "_cursor": cursor.group(1)},
        headers=patient_token(ec, world, "anna"),
    )
    assert world["bertil-plan"] not in other.text and world["bertil-goal"] not in other.text


async def test_held_a_patients_post_search_stays_in_her_compartment(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    found = await anyone.post(
        "/fhir/Goal/_search",
        content=f"subject=Patient/{world['bertil']}&_id={world['bertil-goal']}",
        headers={**anna, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert found.status_code == 200 and match_ids(found.json()) == [], found.text[:300]


async def test_held_a_transaction_mixing_own_and_another_patients_writes_writes_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    anna = anna_writer(ec, world)
    mine = {
        "fullUrl": "urn:uuid:0b6e2d1e-5a4f-4c1b-9d0e-1f2a3b4c5d6e",
        "resource": builders.goal(world["anna"], "Blandat"),
        "request": {"method": "POST", "url": "Goal"},
    }
    theirs = dict(builders.goal(world["bertil"], "Bertils nya mål"), id=world["bertil-goal"])
    done = await anyone.post(
        "/fhir",
        json=transaction(
            mine, {"resource": theirs, "request": {"method": "PUT", "url": f"Goal/{world['bertil-goal']}"}}
        ),
        headers=anna,
    )
    assert done.status_code in (403, 404, 422), done.text[:300]
    goals = await anyone.get("/fhir/Goal", params={"subject": f"Patient/{world['anna']}"}, headers=admin(rsa))
    assert "Blandat" not in goals.text
    bertils = await anyone.get(f"/fhir/Goal/{world['bertil-goal']}", headers=admin(rsa))
    assert "Bertils nya mål" not in bertils.text


async def test_a_unit_systems_conditional_create_does_not_tell_whether_a_personnummer_has_a_record(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The first review's If-None-Exist probe, by a system acting for a unit (users may not
    create Patients at all, so their 403 hid the question; a unit system may)."""
    outsider = unit_system(rsa, world)

    async def probe(number: str) -> httpx.Response:
        return await anyone.post(
            "/fhir/Patient",
            json=builders.patient(number),
            headers={**outsider, "If-None-Exist": f"identifier={PERSONNUMMER}|{number}"},
        )

    hit, miss = await probe(world.numbers["bertil"]), await probe(builders.personnummer())
    assert shape(hit)[0] == shape(miss)[0], (hit.status_code, hit.text[:300], miss.status_code)


async def test_held_merge_by_identifier_does_not_tell_whether_a_personnummer_has_a_record(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    mine = await admin_post(anyone, rsa, builders.patient(family="Egen"))
    await admin_post(
        anyone,
        rsa,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{mine['id']}"},
            "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
        },
    )
    outsider = stranger(rsa, world)

    async def probe(number: str) -> httpx.Response:
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "source-patient-identifier", "valueIdentifier": {"system": PERSONNUMMER, "value": number}},
                {"name": "target-patient", "valueReference": {"reference": f"Patient/{mine['id']}"}},
            ],
        }
        return await anyone.post("/fhir/Patient/$merge", json=body, headers=outsider)

    hit, miss = await probe(world.numbers["bertil"]), await probe(builders.personnummer())
    assert shape(hit) == shape(miss), (hit.text, miss.text)

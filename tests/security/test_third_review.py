"""A third, independent review of patient isolation and the Patient Data Act (after the fixes of
the first two reviews: tests/security/test_review_attacks.py, tests/security/test_second_review.py).

Each test states what SHOULD happen when an attacker tries it; a failing test is a finding.  A
refusal that tells nothing either way passes as well as an equal answer.  The attackers: a
patient's token (Anna), a relative's token, a clinician of an unrelated unit (the stranger at
"outsider"), a clinician with consent only or with emergency access, a clinician of a blocked
unit (the doctor at "hospital"), a system token acting for a unit, and another service's client.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import httpx

from fhirbridge.sweden.identifiers import RESERVNUMMER_SYSTEM
from tests.security.callers import admin, admin_post, anna_writer, doctor, relative, stranger, unit_system
from tests.security.test_review_attacks import shape
from tests.security.test_second_review import consent_and_block, entries, patientless_note
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import NOT_FOR_PATIENT, PERSONNUMMER, World, patient_token, user_token
from tests.support import builders
from tests.support.api import link, match_ids


def nobody() -> str:
    return str(uuid.uuid4())


async def own_patient_of_outsider(anyone: httpx.AsyncClient, key: SigningKey, world: World) -> dict[str, Any]:
    """A Patient the outsider unit treats (a care team it manages), with a personnummer."""
    mine = await admin_post(anyone, key, builders.patient(family="Egen"))
    await admin_post(
        anyone,
        key,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{mine['id']}"},
            "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
        },
    )
    return mine


async def merged_reserve_record(anyone: httpx.AsyncClient, key: SigningKey, world: World, patient: str) -> str:
    """A reserve-number record of ``patient``, merged (by the region) into their Patient: its id."""
    reserve = await admin_post(
        anyone,
        key,
        {
            "resourceType": "Patient",
            "identifier": [{"system": RESERVNUMMER_SYSTEM, "value": f"RES{abs(hash(patient)) % 10**9:09d}"}],
            "name": [{"family": "Okänd"}],
        },
    )
    merged = await anyone.post(
        "/fhir/Patient/$merge", json=builders.merge_parameters(reserve["id"], world[patient]), headers=admin(key)
    )
    assert merged.status_code == 200, merged.text
    source: str = reserve["id"]
    return source


# -- 1. $merge: what it says before the access policy has had its say ------------------------------


async def test_merge_does_not_reveal_the_personnummer_of_patients_the_caller_cannot_see(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The stranger has no relation to Anna or Bertil and only a read scope.  A merge of the two
    (by id) must be refused without quoting their personnummer."""
    outsider = bearer(
        mint(
            rsa,
            scope="user/Patient.r",
            fhirUser=f"Practitioner/{world['stranger']}",
            organization=f"Organization/{world['outsider']}",
        )
    )
    merged = await anyone.post(
        "/fhir/Patient/$merge", json=builders.merge_parameters(world["anna"], world["bertil"]), headers=outsider
    )
    assert merged.status_code >= 400
    assert world.numbers["bertil"] not in merged.text, f"Bertil's personnummer told: {merged.text[:400]}"
    assert world.numbers["anna"] not in merged.text, f"Anna's personnummer told: {merged.text[:400]}"


async def test_merge_into_a_hidden_patient_does_not_reveal_its_personnummer(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A clinician merges a patient of their own (which they may write) into Bertil (whom they
    may not see): refused, and without Bertil's number."""
    mine = await own_patient_of_outsider(anyone, rsa, world)
    outsider = stranger(rsa, world)
    for source, target in ((mine["id"], world["bertil"]), (world["bertil"], mine["id"])):
        merged = await anyone.post(
            "/fhir/Patient/$merge", json=builders.merge_parameters(source, target), headers=outsider
        )
        assert merged.status_code >= 400
        assert world.numbers["bertil"] not in merged.text, f"Bertil's personnummer told: {merged.text[:400]}"


async def test_a_unit_system_merge_does_not_reveal_personnummer(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    merged = await anyone.post(
        "/fhir/Patient/$merge",
        json=builders.merge_parameters(world["anna"], world["bertil"]),
        headers=unit_system(rsa, world),
    )
    assert merged.status_code >= 400
    assert world.numbers["bertil"] not in merged.text and world.numbers["anna"] not in merged.text, merged.text[:400]


async def test_merge_does_not_tell_whether_a_hidden_patient_was_merged_and_into_whom(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Bertil's reserve-number record was merged into Bertil's record.  The stranger merges a
    patient of their own into that old record: the answer must not say that it is replaced, nor
    name Bertil's Patient, and must look like a merge into any other record they may not see."""
    old = await merged_reserve_record(anyone, rsa, world, "bertil")
    mine = await own_patient_of_outsider(anyone, rsa, world)
    outsider = stranger(rsa, world)

    async def probe(target: str) -> httpx.Response:
        return await anyone.post(
            "/fhir/Patient/$merge", json=builders.merge_parameters(mine["id"], target), headers=outsider
        )

    replaced, plain = await probe(old), await probe(world["anna"])
    assert world["bertil"] not in replaced.text, f"the answer names whom the old record became: {replaced.text[:400]}"
    assert shape(replaced)[0] == shape(plain)[0], (replaced.text[:300], plain.text[:300])


async def test_a_merge_by_a_reader_with_consent_is_refused_for_the_access_not_for_the_numbers(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The second review's consent test accepted a 422; that 422 quotes both personnummer."""
    mine = await own_patient_of_outsider(anyone, rsa, world)
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    merged = await anyone.post(
        "/fhir/Patient/$merge", json=builders.merge_parameters(world["anna"], mine["id"]), headers=stranger(rsa, world)
    )
    assert merged.status_code in (403, 404), merged.text[:400]


# -- 2. writes that name a merged (replaced) Patient ----------------------------------------------


async def test_a_note_naming_a_replaced_patient_does_not_tell_whom_it_became(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A note naming no patient on a patient link may refer to anything; referring to a record
    that was merged must not tell the stranger into whom (Bertil) it was merged."""
    old = await merged_reserve_record(anyone, rsa, world, "bertil")
    outsider = stranger(rsa, world)

    async def probe(target: str) -> httpx.Response:
        note = patientless_note(world, basedOn=[{"reference": f"Patient/{target}"}])
        return await anyone.post("/fhir/Communication", json=note, headers=outsider)

    replaced, plain = await probe(old), await probe(world["anna"])
    assert world["bertil"] not in replaced.text, replaced.text[:400]
    assert replaced.status_code == plain.status_code, (replaced.text[:300], plain.text[:300])


async def test_a_patients_write_naming_a_replaced_patient_tells_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna's own message, about (Communication.about) a record that was merged into Bertil's:
    answered like a reference to nothing."""
    old = await merged_reserve_record(anyone, rsa, world, "bertil")
    anna = anna_writer(ec, world)

    async def probe(target: str) -> httpx.Response:
        message = builders.communication(world["anna"], world["doctor"], "Fråga")
        message["about"] = [{"reference": f"Patient/{target}"}]
        return await anyone.post("/fhir/Communication", json=message, headers=anna)

    replaced, missing = await probe(old), await probe(nobody())
    assert world["bertil"] not in replaced.text, replaced.text[:400]
    assert shape(replaced) == shape(missing), (replaced.text[:300], missing.text[:300])


# -- 3. the access log: a combined lookup shows the patient whom else the clinician looked for -----


async def test_a_patient_does_not_read_another_persons_name_and_birthdate_in_the_access_log(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """The masking covers personnummer and identifier values.  A clinician with Anna's consent
    looks up a name list that reaches Anna: the log entry names Anna, and so Anna reads it, with
    the other person's name and birth date in its query."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    outsider = stranger(rsa, world)
    found = await anyone.get(
        "/fhir/Patient",
        params={"family": "Tolvansson,Hemlig-Bertilsson", "birthdate": "1912-12-12"},
        headers=outsider,
    )
    assert world["anna"] in match_ids(found.json())
    log = await anyone.get(
        "/fhir/AuditEvent",
        params={"patient": f"Patient/{world['anna']}", "_count": "500"},
        headers=anna_writer(ec, world),
    )
    decoded = [
        base64.b64decode(item["query"]).decode(errors="replace")
        for event in entries(log)
        for item in event.get("entity", [])
        if "query" in item
    ]
    assert not any("Hemlig-Bertilsson" in q for q in decoded), decoded


async def test_a_patient_does_not_read_another_patients_id_in_the_access_log(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A clinician with Anna's consent asks for Anna's and Bertil's plans in one search (Bertil's
    are left out): the entry names Anna only, and its query Bertil's Patient id."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    both = f"Patient/{world['anna']},Patient/{world['bertil']}"
    found = await anyone.get("/fhir/CarePlan", params={"subject": both}, headers=stranger(rsa, world))
    assert found.status_code == 200
    log = await anyone.get(
        "/fhir/AuditEvent",
        params={"patient": f"Patient/{world['anna']}", "_count": "500"},
        headers=anna_writer(ec, world),
    )
    decoded = [
        base64.b64decode(item["query"]).decode(errors="replace")
        for event in entries(log)
        for item in event.get("entity", [])
        if "query" in item
    ]
    assert not any(world["bertil"] in q for q in decoded), decoded


# -- 4. sorted pages: the snapshot cursor counts hidden matches ------------------------------------


async def test_a_sorted_pages_cursor_does_not_count_hidden_matches(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The stranger may see Anna (consent) and two patients of their own; Bertil is hidden.
    Looking up all four personnummer, sorted, two at a time: the next link's cursor (a position
    in the whole sorted result) must not tell whether Bertil's number has a record."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    first = await own_patient_of_outsider(anyone, rsa, world)
    second = await own_patient_of_outsider(anyone, rsa, world)
    numbers = [world.numbers["anna"], first["identifier"][0]["value"], second["identifier"][0]["value"]]
    outsider = stranger(rsa, world)

    async def next_link(extra: str) -> str | None:
        listed = ",".join(f"{PERSONNUMMER}|{n}" for n in [*numbers, extra])
        page = await anyone.get(
            "/fhir/Patient", params={"identifier": listed, "_sort": "_lastUpdated", "_count": "2"}, headers=outsider
        )
        assert page.status_code == 200, page.text
        assert len(match_ids(page.json())) == 2
        following = link(page.json(), "next")
        cursor = re.search(r"_cursor=([^&]*)", following or "")
        return re.sub(r"s[0-9a-f]{32}\.", "s.", cursor.group(1)) if cursor else None

    assert await next_link(world.numbers["bertil"]) == await next_link(builders.personnummer())


# -- 5. deleting tells of referrers the caller may not see -------------------------------------------


async def test_a_patients_refused_delete_does_not_count_plans_hidden_from_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna's own goal is on her contract and on a plan not approved for her.  Deleting it is
    refused (it is referred to); the refusal must not tell of the hidden plan."""
    anna = anna_writer(ec, world)
    goal = await anyone.post("/fhir/Goal", json=own_goal_of(world), headers=anna)
    assert goal.status_code == 201, goal.text
    goal_id = goal.json()["id"]
    plan = (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=admin(rsa))).json()
    plan["goal"] = [*plan.get("goal", []), {"reference": f"Goal/{goal_id}"}]
    assert (await anyone.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=admin(rsa))).status_code == 200
    only_visible = await anyone.delete(f"/fhir/Goal/{goal_id}", headers=anna)
    internal = (await anyone.get(f"/fhir/CarePlan/{world['anna-internal-plan']}", headers=admin(rsa))).json()
    internal["goal"] = [{"reference": f"Goal/{goal_id}"}]
    assert (await anyone.put(f"/fhir/CarePlan/{internal['id']}", json=internal, headers=admin(rsa))).status_code == 200
    with_hidden = await anyone.delete(f"/fhir/Goal/{goal_id}", headers=anna)
    assert only_visible.status_code == with_hidden.status_code == 409
    assert without_ids(only_visible.text) == without_ids(with_hidden.text), (only_visible.text, with_hidden.text)


def own_goal_of(world: World) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": "Mitt eget mål"},
        "subject": {"reference": f"Patient/{world['anna']}"},
    }


async def test_a_refused_delete_does_not_count_blocked_referrers(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The outsider treats Anna too, and has a plan of its own for her; Anna blocks the hospital.
    The outsider's delete of its plan is refused while a note of its own is based on it; it must
    not count the blocked hospital's plan that is based on it too."""
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
    await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    outsider = stranger(rsa, world)
    own = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"], title="Utomståendes plan", author={"reference": f"PractitionerRole/{world['stranger-role']}"}
        ),
    )
    note = builders.communication(world["anna"], world["stranger"], "Anteckning")
    note["basedOn"] = [{"reference": f"CarePlan/{own['id']}"}]
    note["sender"] = {"reference": f"PractitionerRole/{world['stranger-role']}"}
    assert (await anyone.post("/fhir/Communication", json=note, headers=outsider)).status_code == 201
    first = await anyone.delete(f"/fhir/CarePlan/{own['id']}", headers=outsider)
    hidden = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Psykiatrins plan",
            author={"reference": f"PractitionerRole/{world['doctor-role']}"},
            basedOn=[{"reference": f"CarePlan/{own['id']}"}],
        ),
    )
    assert (await anyone.get(f"/fhir/CarePlan/{hidden['id']}", headers=outsider)).status_code == 403
    second = await anyone.delete(f"/fhir/CarePlan/{own['id']}", headers=outsider)
    assert first.status_code == second.status_code == 409, (first.text, second.text)
    assert without_ids(first.text) == without_ids(second.text), (first.text, second.text)


def without_ids(text: str) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "#", text)


# -- 6. blocks: information of the blocked unit outside contracts, teams and messages ---------------


async def test_a_goal_the_blocked_unit_wrote_outside_a_plan_is_blocked(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The hospital's doctor records a goal for Anna (expressed by the doctor, on no plan yet);
    Anna blocks the hospital; the outsider reads with consent."""
    goal = builders.goal(world["anna"], "Psykiatrisk bedömning: suicidrisk")
    goal["expressedBy"] = {"reference": f"PractitionerRole/{world['doctor-role']}"}
    made = await anyone.post("/fhir/Goal", json=goal, headers=doctor(rsa, world))
    assert made.status_code == 201, made.text
    await consent_and_block(anyone, rsa, world)
    read = await anyone.get(f"/fhir/Goal/{made.json()['id']}", headers=stranger(rsa, world))
    assert read.status_code == 403 and "suicidrisk" not in read.text, read.text[:300]


async def test_an_appointment_at_the_blocked_unit_is_blocked(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """An appointment the hospital booked for Anna (its doctor's role and the unit) tells that
    Anna is its patient: blocked like its contract."""
    appointment = builders.appointment(world["anna"], world["doctor"])
    appointment["participant"][1]["actor"] = {"reference": f"PractitionerRole/{world['doctor-role']}"}
    appointment["description"] = "Återbesök psykiatrin"
    made = await anyone.post("/fhir/Appointment", json=appointment, headers=doctor(rsa, world))
    assert made.status_code == 201, made.text
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=outsider)).status_code == 403
    read = await anyone.get(f"/fhir/Appointment/{made.json()['id']}", headers=outsider)
    assert read.status_code == 403 and "psykiatrin" not in read.text, read.text[:300]


async def test_a_message_to_the_blocked_unit_is_blocked(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna writes to her doctor at the hospital, then blocks the hospital: the outsider, reading
    with consent, must not read her correspondence with the blocked unit."""
    message = builders.communication(world["anna"], world["doctor"], "Fråga om min medicin mot depression")
    message["recipient"] = [{"reference": f"PractitionerRole/{world['doctor-role']}"}]
    made = await anyone.post("/fhir/Communication", json=message, headers=anna_writer(ec, world))
    assert made.status_code == 201, made.text
    await consent_and_block(anyone, rsa, world)
    read = await anyone.get(f"/fhir/Communication/{made.json()['id']}", headers=stranger(rsa, world))
    assert read.status_code == 403 and "depression" not in read.text, read.text[:300]


# -- 7. consent and sharing: what the patient did not share -----------------------------------------


async def test_a_consent_with_an_exception_is_honoured(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna consents to the outsider reading, except her messages (a nested deny provision for
    the Communication class, R4 Consent.provision.provision)."""
    message = builders.communication(world["anna"], world["doctor"], "Privat fråga")
    made = await anyone.post("/fhir/Communication", json=message, headers=anna_writer(ec, world))
    assert made.status_code == 201, made.text
    consent = builders.consent(world["anna"], f"Organization/{world['outsider']}")
    consent["provision"]["provision"] = [
        {"type": "deny", "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Communication"}]}
    ]
    await admin_post(anyone, rsa, consent)
    read = await anyone.get(f"/fhir/Communication/{made.json()['id']}", headers=stranger(rsa, world))
    assert read.status_code in (403, 404) and "Privat" not in read.text, read.text[:300]


async def test_a_relative_sees_only_the_kinds_of_data_shared_with_them(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna shares her care plans (provision.class CarePlan) with her relative; her messages and
    her blocks are not shared."""
    message = builders.communication(world["anna"], world["doctor"], "Privat fråga")
    made = await anyone.post("/fhir/Communication", json=message, headers=anna_writer(ec, world))
    assert made.status_code == 201, made.text
    share = builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}")
    share["provision"]["class"] = [{"system": "http://hl7.org/fhir/resource-types", "code": "CarePlan"}]
    await admin_post(anyone, rsa, share)
    kin = relative(ec, world)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=kin)).status_code == 200
    read = await anyone.get(f"/fhir/Communication/{made.json()['id']}", headers=kin)
    assert read.status_code in (403, 404), read.text[:300]


# -- 8. emergency access ----------------------------------------------------------------------------


async def test_a_unit_systems_client_id_does_not_borrow_a_clinicians_emergency_access(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The helper (at other-outsider) opens emergency access to Bertil.  A system of the same
    unit whose client id reads like the helper's Practitioner reference is not the helper (the
    second review's rule for care team members, here for grants)."""
    impostor = bearer(
        mint(
            rsa,
            scope="system/*.rs",
            client_id=f"Practitioner/{world['helper']}",
            sub=f"Practitioner/{world['helper']}",
            organization=f"Organization/{world['other-outsider']}",
        )
    )
    before = await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}", headers=impostor)
    assert before.status_code == 403, before.text[:300]
    helper = user_token(rsa, world, "helper", "other-outsider")
    asked = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "Akut"}]}
    granted = await anyone.post(f"/fhir/Patient/{world['bertil']}/$emergency-access", json=asked, headers=helper)
    assert granted.status_code == 200, granted.text
    read = await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}", headers=impostor)
    assert read.status_code in (403, 404), read.text[:300]


async def test_held_emergency_access_in_a_batch_needs_the_scope_it_needs_alone(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Alone, $emergency-access needs user/Patient.r; a batch entry must not skip that check
    (held: a batch does not run POST operations at all)."""
    narrow = user_token(rsa, world, "helper", "other-outsider", scope="user/Goal.r")
    asked = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "Akut"}]}
    alone = await anyone.post(f"/fhir/Patient/{world['bertil']}/$emergency-access", json=asked, headers=narrow)
    assert alone.status_code == 403
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": asked, "request": {"method": "POST", "url": f"Patient/{world['bertil']}/$emergency-access"}}
        ],
    }
    batched = await anyone.post("/fhir", json=bundle, headers=narrow)
    assert batched.status_code == 200
    assert not batched.json()["entry"][0]["response"]["status"].startswith("2"), batched.text[:300]
    goal = await anyone.get(f"/fhir/Goal/{world['bertil-goal']}", headers=narrow)
    assert goal.status_code == 403, goal.text[:300]


# -- 9. a patient's token: ids of other patients' resources -----------------------------------------


async def test_a_patients_delete_does_not_tell_whether_another_patients_resource_exists(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    """Another patient's resource does not exist for a patient (a read is 404): deleting it must
    answer as for an id nobody has."""
    anna = anna_writer(ec, world)
    theirs = await anyone.delete(f"/fhir/Goal/{world['bertil-goal']}", headers=anna)
    missing = await anyone.delete(f"/fhir/Goal/{nobody()}", headers=anna)
    assert theirs.status_code == missing.status_code, (theirs.text[:300], missing.text[:300])


async def test_a_patients_versioned_reference_does_not_count_another_patients_versions(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna's message names Bertil's record by version: answered alike whether that version exists."""
    bertil = (await anyone.get(f"/fhir/Patient/{world['bertil']}", headers=admin(rsa))).json()
    bertil["name"] = [{"family": "Bertilsson", "given": ["Bertil"]}]
    assert (await anyone.put(f"/fhir/Patient/{world['bertil']}", json=bertil, headers=admin(rsa))).status_code == 200
    anna = anna_writer(ec, world)

    async def probe(version: int) -> httpx.Response:
        message = builders.communication(world["anna"], world["doctor"], "Till Bertil")
        message["recipient"] = [{"reference": f"Patient/{world['bertil']}/_history/{version}"}]
        return await anyone.post("/fhir/Communication", json=message, headers=anna)

    there, absent = await probe(2), await probe(3)
    assert shape(there) == shape(absent), (there.text[:300], absent.text[:300])


# -- 10. history pages are not filled past hidden versions ------------------------------------------


async def test_a_patients_type_history_is_filled_past_other_patients_versions(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Searches fill a page past hidden matches so that a short page tells nothing; a history
    page must too: Anna asks for the newest CarePlan version; Bertil's plan changed last."""
    plan = (await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}", headers=admin(rsa))).json()
    plan["description"] = "Ändrad"
    assert (await anyone.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=admin(rsa))).status_code == 200
    anna = patient_token(ec, world, "anna")
    page = await anyone.get("/fhir/CarePlan/_history", params={"_count": "1"}, headers=anna)
    assert page.status_code == 200
    shown = [e["fullUrl"].rsplit("/", 1)[-1] for e in page.json().get("entry", [])]
    assert shown == [world["anna-plan"]], f"a short page tells Anna of others' versions: {shown}"


# -- 11. the revision trail names the blocked unit ---------------------------------------------------


async def test_the_revision_trail_does_not_show_the_blocked_unit_at_work(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The outsider's own contract for Anna was revised by the hospital's doctor (who treats
    Anna too); Anna then blocks the hospital.  The trail the outsider reads must not tell that the
    blocked unit worked on her contract (that she is its patient)."""
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
    own = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"], title="Utomståendes plan", author={"reference": f"PractitionerRole/{world['stranger-role']}"}
        ),
    )
    own["description"] = "Kompletterad av medicinkliniken"
    revised = await anyone.put(f"/fhir/CarePlan/{own['id']}", json=own, headers=doctor(rsa, world))
    assert revised.status_code == 200, revised.text
    await admin_post(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    trail = await anyone.get(f"/fhir/CarePlan/{own['id']}/$revisions", headers=stranger(rsa, world))
    assert trail.status_code == 200
    assert world["hospital"] not in trail.text and world["doctor"] not in trail.text, trail.text[:600]


async def test_a_block_does_not_name_the_blocked_unit_to_other_readers(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Anna blocks the hospital (the block exists to hide that she is its patient).  The outsider,
    reading with consent, must not learn from the block itself which unit it hides."""
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=outsider)).status_code == 403
    consents = await anyone.get("/fhir/Consent", params={"patient": f"Patient/{world['anna']}"}, headers=outsider)
    assert consents.status_code == 200
    assert f"Organization/{world['hospital']}" not in consents.text, consents.text[:600]


# -- 13. plans not approved for the patient ---------------------------------------------------------


async def test_npo_does_not_give_a_patient_a_plan_it_marks_not_approved_for_them(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A draft is answered with approvedForPatient=false (not agreed with the patient); the same
    answer must not go to the patient's own token."""
    await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            status="draft",
            title="Utkast: bedömning inför utskrivning",
            author={"reference": f"PractitionerRole/{world['doctor-role']}"},
        ),
    )
    headers = {**patient_token(ec, world, "anna"), "Content-Type": "text/xml"}
    answer = await anyone.post(CARE_PLANS, content=care_plans_envelope(world.numbers["anna"]), headers=headers)
    assert answer.status_code == 200
    assert "approvedForPatient>false<" not in answer.text, "the patient is given what the answer says is not for her"


async def test_a_patients_access_log_does_not_name_a_plan_hidden_from_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """The doctor reads Anna's internal plan (NOPATIENT); Anna reads who accessed her data: the
    entry may say the doctor read her records, not name the plan she may not know of."""
    read = await anyone.get(f"/fhir/CarePlan/{world['anna-internal-plan']}", headers=doctor(rsa, world))
    assert read.status_code == 200
    log = await anyone.get(
        "/fhir/AuditEvent",
        params={"patient": f"Patient/{world['anna']}", "_count": "500"},
        headers=patient_token(ec, world, "anna"),
    )
    assert log.status_code == 200
    assert world["anna-internal-plan"] not in log.text, "Anna's log names the plan not approved for her"


async def test_a_patients_write_to_a_hidden_goal_does_not_tell_of_the_plan_behind_it(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    goal = await admin_post(anyone, rsa, builders.goal(world["anna"], "Intern bedömning"))
    await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Intern plan",
            goal=[{"reference": f"Goal/{goal['id']}"}],
            meta={"security": [NOT_FOR_PATIENT]},
        ),
    )
    anna = anna_writer(ec, world)
    hidden = await anyone.delete(f"/fhir/Goal/{goal['id']}", headers=anna)
    assert "not approved" not in hidden.text, hidden.text[:300]
    missing = await anyone.delete(f"/fhir/Goal/{nobody()}", headers=anna)
    assert hidden.status_code == missing.status_code, (hidden.text[:300], missing.text[:300])


# -- 14. blocks: the goals of a deleted blocked plan ------------------------------------------------


async def test_the_goals_of_a_deleted_blocked_plan_stay_blocked(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The hospital's contract (blocked) is deleted by the hospital; a goal its doctor wrote stays
    the hospital's information and must not surface for the consented outsider.  (A goal the
    region's integration wrote, held only by the deleted plan, is no longer the hospital's: a
    block covers what a unit wrote and what its standing plans and teams hold; docs/security.md.)"""
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    goal = dict(
        builders.goal(world["anna"], "Doktorns mål om affären"), expressedBy={"reference": f"Patient/{world['anna']}"}
    )
    written = await anyone.post("/fhir/Goal", json=goal, headers=doctor(rsa, world))
    assert written.status_code == 201, written.text
    plan = (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=doctor(rsa, world))).json()
    plan["goal"] = [*plan.get("goal", []), {"reference": f"Goal/{written.json()['id']}"}]
    assert (await anyone.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=doctor(rsa, world))).status_code == 200
    assert (await anyone.get(f"/fhir/Goal/{written.json()['id']}", headers=outsider)).status_code == 403
    deleted = await anyone.delete(f"/fhir/CarePlan/{world['anna-plan']}", headers=doctor(rsa, world))
    assert deleted.status_code in (200, 204), deleted.text
    read = await anyone.get(f"/fhir/Goal/{written.json()['id']}", headers=outsider)
    assert read.status_code == 403 and "affären" not in read.text, read.text[:300]


# -- 15. masking the log ---------------------------------------------------------------------------


async def test_a_percent_encoded_personnummer_is_masked_in_the_log(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A clinician with Anna's consent types Bertil's personnummer (with its hyphen, percent-
    encoded as a client may) into a name list that also reaches Anna."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    number = world.numbers["bertil"]
    query = f"family=Tolvansson,{number[:8]}%2D{number[8:]}"
    found = await anyone.get(f"/fhir/Patient?{query}", headers=stranger(rsa, world))
    assert world["anna"] in match_ids(found.json())
    log = await anyone.get(
        "/fhir/AuditEvent",
        params={"patient": f"Patient/{world['anna']}", "_count": "500"},
        headers=anna_writer(ec, world),
    )
    decoded = [
        base64.b64decode(item["query"]).decode(errors="replace")
        for event in entries(log)
        for item in event.get("entity", [])
        if "query" in item
    ]
    assert not any(number[8:] in q and number[2:8] in q for q in decoded), decoded


# -- 12. what held (kept as regression guards) ------------------------------------------------------

CARE_PLANS = "/riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21"
CARE_MANAGERS = "/riv/coreprocess/residentparticipation/residentparticipation/GetCareManagers/1/rivtabp21"
HOSPITAL_HSA = "SE2321000198-E0000000101"


def care_plans_envelope(number: str, extra: str = "") -> bytes:
    from tests.adapters.test_get_care_plans import request

    return request(number, extra=extra)


def care_managers_envelope(number: str, extra: str = "") -> bytes:
    from tests.adapters.test_get_care_managers import request

    return request(extension=number, extra=extra)


async def test_held_npo_care_plans_filtered_by_the_blocked_unit_give_a_service_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await consent_and_block(anyone, rsa, world)
    service = {**bearer(mint(rsa, scope="system/*.rs", client_id="npo-platform")), "Content-Type": "text/xml"}
    for extra in (
        f"<r:careUnitHSAId>{HOSPITAL_HSA}</r:careUnitHSAId>",
        "<r:datePeriod><c:start>19000101</c:start><c:end>20991231</c:end></r:datePeriod>",
        "<r:sourceSystemHSAId>SE2321000198-FHIRBRIDGE</r:sourceSystemHSAId>",
        "",
    ):
        answer = await anyone.post(
            CARE_PLANS, content=care_plans_envelope(world.numbers["anna"], extra), headers=service
        )
        assert answer.status_code == 200, answer.text[:300]
        assert HOSPITAL_HSA not in answer.text and world["anna-plan"] not in answer.text, (extra, answer.text[:600])


async def test_held_npo_care_managers_of_a_consented_reader_leave_the_blocked_team_out(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    team = (await anyone.get(f"/fhir/CareTeam/{world['anna-team']}", headers=admin(rsa))).json()
    team["participant"][0]["role"] = [
        {"coding": [{"system": "https://fhirbridge.se/fhir/CodeSystem/care-role", "code": "fast-vardkontakt"}]}
    ]
    await anyone.put(f"/fhir/CareTeam/{team['id']}", json=team, headers=admin(rsa))
    await consent_and_block(anyone, rsa, world)
    headers = {**stranger(rsa, world), "Content-Type": "text/xml"}
    for extra in (
        "",
        f"<r:careUnitId><c:root>1.2.752.129.2.1.4.1</c:root><c:extension>{HOSPITAL_HSA}</c:extension></r:careUnitId>",
    ):
        answer = await anyone.post(
            CARE_MANAGERS, content=care_managers_envelope(world.numbers["anna"], extra), headers=headers
        )
        assert answer.status_code in (200, 403), answer.text[:300]
        assert HOSPITAL_HSA not in answer.text and world["anna-team"] not in answer.text, answer.text[:600]


async def test_held_the_overview_of_a_consented_reader_leaves_the_blocked_unit_out(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await consent_and_block(anyone, rsa, world)
    page = await anyone.get(
        f"/overview/{world['anna']}", headers={**stranger(rsa, world), "Accept": "application/json"}
    )
    assert page.status_code in (200, 403), page.text[:300]
    assert "Medicinkliniken" not in page.text and "Patientkontrakt" not in page.text, page.text[:600]


async def test_held_the_overview_and_fixed_contacts_of_another_patient_do_not_exist_for_a_relative(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    kin = {**relative(ec, world), "Accept": "application/json"}
    for path in (f"/overview/{world['bertil']}", f"/fhir/Patient/{world['bertil']}/$fixed-contacts"):
        theirs = await anyone.get(path, headers=kin)
        missing = await anyone.get(path.replace(world["bertil"], nobody()), headers=kin)
        assert theirs.status_code == missing.status_code == 404, (path, theirs.text[:200])


async def test_held_form_encoded_search_cannot_smuggle_has_or_a_hidden_chain(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    outsider = {**stranger(rsa, world), "Content-Type": "application/x-www-form-urlencoded"}
    for body in (
        f"_id={world['anna']}&_has:CarePlan:subject:status=active",
        f"based-on:CarePlan.status=active&_id={world['anna']}",
    ):
        found = await anyone.post(
            "/fhir/Patient/_search" if body.startswith("_id") else "/fhir/Communication/_search",
            content=body,
            headers=outsider,
        )
        assert found.status_code in (400, 403), (body, found.text[:300])


async def test_held_batch_reads_with_every_header_tell_nothing_of_hidden_records(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")

    def entry(url: str, **request: str) -> dict[str, Any]:
        return {"request": {"method": "GET", "url": url, **request}}

    probes = []
    for target in (world["bertil-plan"], nobody()):
        probes += [
            entry(f"CarePlan/{target}", ifNoneMatch='W/"1"'),
            entry(f"CarePlan/{target}", ifModifiedSince="Sat, 01 Jan 2000 00:00:00 GMT"),
            entry(f"CarePlan/{target}?_format=json&_elements=title"),
            entry(f"CarePlan/{target}/_history/1?_summary=text"),
            entry(f"CarePlan/{target}/_history"),
            entry(f"CarePlan/{target}/$revisions"),
            entry(f"CarePlan/{target}/$validate"),
        ]
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": probes}
    answer = await anyone.post("/fhir", json=bundle, headers=anna)
    assert answer.status_code == 200
    statuses = [e["response"]["status"] for e in answer.json()["entry"]]
    half = len(statuses) // 2
    assert statuses[:half] == statuses[half:], statuses
    assert "Patientkontrakt" not in answer.text


async def test_held_counts_and_totals_tell_an_outsider_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    outsider = stranger(rsa, world)
    for params in (
        {"_summary": "count"},
        {"_count": "0"},
        {"_total": "accurate", "subject": f"Patient/{world['bertil']}"},
        {"_summary": "data", "_total": "estimate"},
    ):
        found = await anyone.get("/fhir/CarePlan", params=params, headers=outsider)
        assert found.status_code in (200, 400), found.text[:300]
        assert "total" not in found.json() or found.json()["total"] == 0, (params, found.text[:300])
        assert match_ids(found.json()) == []


async def test_held_validate_tells_a_patient_nothing_of_another_patients_records(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")

    async def probe(goal: str, plan: str) -> list[tuple[int, str]]:
        body = builders.care_plan(world["anna"], goal=[{"reference": f"Goal/{goal}"}])
        typed = await anyone.post("/fhir/CarePlan/$validate", json=body, headers=anna)
        deleting = await anyone.get(f"/fhir/CarePlan/{plan}/$validate", params={"mode": "delete"}, headers=anna)
        return [shape(typed), shape(deleting)]

    assert await probe(world["bertil-goal"], world["bertil-plan"]) == await probe(nobody(), nobody())


async def test_held_history_at_and_since_reach_no_hidden_versions(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    at = await anyone.get("/fhir/_history", params={"_at": "2000-01-01"}, headers=anna)
    assert at.status_code == 400
    since = await anyone.get("/fhir/_history", params={"_since": "2000-01-01T00:00:00Z", "_count": "500"}, headers=anna)
    assert since.status_code == 200
    for hidden in (world["bertil"], world["bertil-plan"], world["anna-internal-plan"], world["bertil-goal"]):
        assert hidden not in since.text

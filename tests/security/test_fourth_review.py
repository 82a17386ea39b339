"""A fourth, independent review of patient isolation and the Patient Data Act (after the fixes of
the first three reviews: tests/security/test_review_attacks.py, test_second_review.py,
test_third_review.py).

Kept as regression tests: each states what must happen when an attacker tries it.  A refusal
that tells nothing either way passes as well as an equal answer.  The attackers: a
patient's token (Anna), a relative's token, a clinician of an unrelated unit (the stranger at
"outsider"), a clinician with consent only or with emergency access, a clinician of a blocked
unit (the doctor at "hospital"), a system token acting for a unit, and another service's client.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES, GOAL_KIND_SYSTEM, GOAL_KINDS, concept
from tests.security.callers import (
    admin,
    admin_post,
    anna_writer,
    block_hospital,
    doctor,
    outsider_team,
    relative,
    service,
    stranger,
    unit_system,
)
from tests.security.test_review_attacks import database, shape
from tests.security.test_second_review import consent_and_block, entries
from tests.security.test_third_review import CARE_PLANS, HOSPITAL_HSA, care_plans_envelope
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import NOT_FOR_PATIENT, PERSONNUMMER, World, patient_token, user_token
from tests.support import builders
from tests.support.api import match_ids
from tests.support.contracts import contract

FIXED_CARE_CONTACT = concept(CARE_ROLE_SYSTEM, CARE_ROLES, "fast-vardkontakt")


async def make_fixed_contact(anyone: httpx.AsyncClient, key: SigningKey, world: World, team: str) -> None:
    """The hospital's doctor becomes the fixed care contact in ``team`` (by the region)."""
    body = (await anyone.get(f"/fhir/CareTeam/{world[team]}", headers=admin(key))).json()
    body["participant"][0]["role"] = [FIXED_CARE_CONTACT]
    body["participant"][0]["member"]["display"] = "Doktor Lind på medicinkliniken"
    updated = await anyone.put(f"/fhir/CareTeam/{body['id']}", json=body, headers=admin(key))
    assert updated.status_code == 200, updated.text


async def owed(app: FastAPI) -> list[tuple[str, str]]:
    async with database(app).reader() as conn:
        rows = await conn.fetch(
            "SELECT subscription_id, res_type, res_id FROM outbox WHERE delivered IS NULL AND failed IS NULL"
        )
    return [(row[0], f"{row[1]}/{row[2]}") for row in rows]


async def anna_goal_for_contract(anyone: httpx.AsyncClient, key: SigningKey, world: World) -> dict[str, Any]:
    return await admin_post(
        anyone,
        key,
        dict(
            builders.goal(world["anna"], "Att kunna gå till affären"),
            category=[concept(GOAL_KIND_SYSTEM, GOAL_KINDS, "vad-ar-viktigt")],
        ),
    )


# -- 1. blocked information through the write rules ------------------------------------------------


async def test_a_second_fixed_care_contact_refusal_does_not_name_the_blocked_units_contact(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Anna's fixed care contact sits in the hospital's care team; Anna blocks the hospital.  The
    outsider unit (a care relation of its own) appoints its own fixed care contact: whatever the
    answer, it must not tell who Anna's contact at the blocked unit is, nor name its team."""
    await make_fixed_contact(anyone, rsa, world, "anna-team")
    await outsider_team(anyone, rsa, world)
    await block_hospital(anyone, rsa, world)
    outsider = stranger(rsa, world)
    assert (await anyone.get(f"/fhir/CareTeam/{world['anna-team']}", headers=outsider)).status_code in (403, 404)
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['anna']}"},
        "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
        "participant": [
            {"role": [FIXED_CARE_CONTACT], "member": {"reference": f"PractitionerRole/{world['stranger-role']}"}}
        ],
    }
    answer = await anyone.post("/fhir/CareTeam", json=team, headers=outsider)
    for secret in (world["anna-team"], world["doctor-role"], "medicinkliniken"):
        assert secret not in answer.text, f"{answer.status_code}: {answer.text[:500]}"


async def test_a_contract_revised_by_the_blocked_unit_does_not_name_it_among_contributors(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The outsider's own contract for Anna was revised by the hospital's doctor (who treats Anna
    too); Anna then blocks the hospital.  As in the third review's revision trail: what the
    outsider reads of its own contract must not tell that the blocked unit worked on it."""
    team = await outsider_team(anyone, rsa, world)
    goal = await anna_goal_for_contract(anyone, rsa, world)
    own = await admin_post(
        anyone,
        rsa,
        contract(world["anna"], team["id"], goal["id"], f"PractitionerRole/{world['stranger-role']}"),
    )
    own["description"] = "Kompletterad av medicinkliniken"
    revised = await anyone.put(f"/fhir/CarePlan/{own['id']}", json=own, headers=doctor(rsa, world))
    assert revised.status_code == 200, revised.text
    await block_hospital(anyone, rsa, world)
    outsider = stranger(rsa, world)
    told = []
    for path in (f"/fhir/CarePlan/{own['id']}", f"/fhir/CarePlan/{own['id']}/$revisions"):
        read = await anyone.get(path, headers=outsider)
        assert read.status_code == 200, read.text[:300]
        if f"Organization/{world['hospital']}" in read.text:
            told.append(path)
    npo = await anyone.post(
        CARE_PLANS,
        content=care_plans_envelope(world.numbers["anna"]),
        headers={**outsider, "Content-Type": "text/xml"},
    )
    assert npo.status_code == 200, npo.text[:300]
    if HOSPITAL_HSA in npo.text:
        told.append("NPÖ GetCarePlans (participatingCareUnitHSAId)")
    assert not told, f"the blocked unit is named as a contributor to the outsider by: {told}"


async def test_the_signal_about_a_blocked_units_contract_does_not_reach_other_units(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Anna's fixed care contact works at the outsider unit; her contract is the hospital's, and
    she has blocked the hospital.  The region's integration syncs a revision of the hospital's
    contract: the signal to her contact must not show the outsider the blocked contract."""
    await outsider_team(
        anyone,
        rsa,
        world,
        participant=[
            {"role": [FIXED_CARE_CONTACT], "member": {"reference": f"PractitionerRole/{world['stranger-role']}"}}
        ],
    )
    goal = await anna_goal_for_contract(anyone, rsa, world)
    await block_hospital(anyone, rsa, world)
    blocked = contract(
        world["anna"],
        world["anna-team"],
        goal["id"],
        f"PractitionerRole/{world['doctor-role']}",
        title="Medicinklinikens hjärtkontrakt",
    )
    written = await admin_post(anyone, rsa, blocked)
    outsider = stranger(rsa, world)
    assert (await anyone.get(f"/fhir/CarePlan/{written['id']}", headers=outsider)).status_code == 403
    messages = await anyone.get("/fhir/Communication", params={"subject": f"Patient/{world['anna']}"}, headers=outsider)
    assert messages.status_code == 200
    assert "hjärtkontrakt" not in messages.text and written["id"] not in messages.text, messages.text[:800]


async def test_the_signal_about_a_plan_not_approved_for_the_patient_is_not_shown_to_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A contract labelled NOPATIENT (not approved for the patient) is hidden from Anna; its
    signal to her fixed care contact sits in her compartment and must not show it to her."""
    await make_fixed_contact(anyone, rsa, world, "anna-team")
    goal = await anna_goal_for_contract(anyone, rsa, world)
    internal = contract(
        world["anna"],
        world["anna-team"],
        goal["id"],
        f"PractitionerRole/{world['helper-role']}",
        title="Internt utkast om Anna",
        meta={"security": [NOT_FOR_PATIENT]},
    )
    written = await admin_post(anyone, rsa, internal)
    anna = patient_token(ec, world, "anna")
    assert (await anyone.get(f"/fhir/CarePlan/{written['id']}", headers=anna)).status_code == 404
    messages = await anyone.get("/fhir/Communication", headers=anna)
    assert messages.status_code == 200
    assert "Internt utkast" not in messages.text and written["id"] not in messages.text, messages.text[:800]


# -- 2. services: subscriptions test what a search may not -----------------------------------------


async def test_a_services_subscription_cannot_test_blocked_plans_with_has(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI
) -> None:
    """With a token ``_has`` is refused in searches, since it tests resources the caller may not
    see.  A service (blocks apply to it) must not get the same test from a Subscription's
    criteria: a notification about Anna's Patient would say that the blocked unit's doctor is on
    her care team there (who treats her, which the block hides)."""
    await block_hospital(anyone, rsa, world)
    npo = service(rsa)
    probe = f"Patient?_has:CareTeam:subject:participant=PractitionerRole/{world['doctor-role']}"
    refused = await anyone.get(f"/fhir/{probe}", headers=npo)
    assert refused.status_code in (400, 403), refused.text[:300]
    body = builders.subscription(probe, payload="application/fhir+json")
    created = await anyone.post("/fhir/Subscription", json=body, headers=npo)
    if created.status_code >= 400:
        return  # refused outright: tells nothing
    patient = (await anyone.get(f"/fhir/Patient/{world['anna']}", headers=npo)).json()
    patient["telecom"] = [{"system": "phone", "value": "070-1234567"}]
    assert (await anyone.put(f"/fhir/Patient/{world['anna']}", json=patient, headers=npo)).status_code == 200
    assert ("Patient/" + world["anna"]) not in [what for _, what in await owed(secure_app)], (
        "a notification tells the service that the blocked unit's doctor is on Anna's care team"
    )


async def test_a_services_subscription_cannot_chain_through_blocked_plans(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, secure_app: FastAPI, ec: SigningKey
) -> None:
    """The same with a chain through a hidden hop (refused in a search)."""
    await block_hospital(anyone, rsa, world)
    npo = service(rsa)
    probe = f"Communication?based-on:CarePlan.goal=Goal/{world['anna-goal']}"
    refused = await anyone.get(f"/fhir/{probe}", headers=npo)
    assert refused.status_code in (400, 403), refused.text[:300]
    created = await anyone.post(
        "/fhir/Subscription", json=builders.subscription(probe, payload="application/fhir+json"), headers=npo
    )
    if created.status_code >= 400:
        return
    message = dict(
        builders.communication(world["anna"], world["stranger"], "Fråga om planen"),
        basedOn=[{"reference": f"CarePlan/{world['anna-plan']}"}],
    )
    sent = await anyone.post("/fhir/Communication", json=message, headers=anna_writer(ec, world))
    assert sent.status_code == 201, sent.text
    assert f"Communication/{sent.json()['id']}" not in [what for _, what in await owed(secure_app)], (
        "a notification tells the service that the message is about a plan of the unit Anna blocked"
    )


# -- 3. relatives and blocks -----------------------------------------------------------------------


async def test_a_relative_with_the_patients_share_does_not_see_a_blocked_units_plan(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Blocks hide a unit's information from everyone outside it (docs/security.md, rule 7); the
    facts of a relative are read "with the care network when a block makes it matter"."""
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    await block_hospital(anyone, rsa, world)
    kin = relative(ec, world)
    told = []
    read = await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=kin)
    if read.status_code == 200:
        told.append("CarePlan read")
    team = await anyone.get(f"/fhir/CareTeam/{world['anna-team']}", headers=kin)
    if team.status_code == 200:
        told.append("CareTeam read (who treats her at the blocked unit)")
    page = await anyone.get(f"/overview/{world['anna']}", headers={**kin, "Accept": "application/json"})
    if "Medicinkliniken" in page.text or world["anna-plan"] in page.text:
        told.append("overview")
    npo = await anyone.post(
        CARE_PLANS, content=care_plans_envelope(world.numbers["anna"]), headers={**kin, "Content-Type": "text/xml"}
    )
    if HOSPITAL_HSA in npo.text:
        told.append("NPÖ GetCarePlans")
    assert not told, f"the relative reads the blocked unit's information through: {told}"


# -- 4. plans not approved for the patient ---------------------------------------------------------


async def test_a_patients_access_log_does_not_name_a_goal_of_a_plan_hidden_from_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """The third review's fix logs what is not for the patient (a NOPATIENT plan) in an entry of
    its own; a Goal of such a plan is hidden from her too (rule 5) and must not be named in hers."""
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
    anna = patient_token(ec, world, "anna")
    assert (await anyone.get(f"/fhir/Goal/{goal['id']}", headers=anna)).status_code == 404
    assert (await anyone.get(f"/fhir/Goal/{goal['id']}", headers=doctor(rsa, world))).status_code == 200
    log = await anyone.get(
        "/fhir/AuditEvent", params={"patient": f"Patient/{world['anna']}", "_count": "100"}, headers=anna
    )
    assert log.status_code == 200
    assert goal["id"] not in log.text, "Anna's log names a goal kept from her"


@pytest.mark.xfail(
    strict=True,
    reason="known gap (docs/security.md): a Goal is hidden from the patient while a standing plan not approved "
    "for them holds it; once that plan is deleted, nothing on record ties the Goal to it",
)
async def test_the_goal_of_a_deleted_plan_not_approved_for_the_patient_stays_hidden(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """As the third review's fix for a deleted blocked plan's goals: a goal that only a plan not
    approved for the patient held stays hidden from her when that plan is deleted."""
    goal = await admin_post(anyone, rsa, builders.goal(world["anna"], "Internt mål: utred missbruk"))
    plan = await admin_post(
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
    anna = patient_token(ec, world, "anna")
    assert (await anyone.get(f"/fhir/Goal/{goal['id']}", headers=anna)).status_code == 404
    assert (await anyone.delete(f"/fhir/CarePlan/{plan['id']}", headers=admin(rsa))).status_code == 204
    read = await anyone.get(f"/fhir/Goal/{goal['id']}", headers=anna)
    found = await anyone.get("/fhir/Goal", headers=anna)
    assert read.status_code == 404 and "utred missbruk" not in found.text, read.text[:300]


async def test_the_patients_access_log_does_not_name_the_provenance_of_a_plan_hidden_from_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Rule 5 hides the Provenances of a NOPATIENT plan's versions from the patient; a clinician's
    read of them must not name them in her log either."""
    anna = patient_token(ec, world, "anna")
    trail = await anyone.get(
        "/fhir/Provenance", params={"target": f"CarePlan/{world['anna-internal-plan']}"}, headers=doctor(rsa, world)
    )
    ids = match_ids(trail.json())
    assert ids, trail.text[:300]
    for provenance in ids:
        assert (await anyone.get(f"/fhir/Provenance/{provenance}", headers=anna)).status_code == 404
    log = await anyone.get(
        "/fhir/AuditEvent", params={"patient": f"Patient/{world['anna']}", "_count": "100"}, headers=anna
    )
    assert not any(provenance in log.text for provenance in ids), "Anna's log names a Provenance kept from her"


# -- 5. consents narrower than their class ---------------------------------------------------------


async def test_a_share_limited_to_one_plan_does_not_open_everything(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna shares one care plan with her relative (Consent.provision.data names it, R4: "the
    resources controlled by this rule if specific resources are referenced").  The relative must
    not read what she did not share: her goals, her other relatives, her messages."""
    share = builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}")
    share["provision"]["data"] = [{"meaning": "instance", "reference": {"reference": f"CarePlan/{world['anna-plan']}"}}]
    made = await anyone.post("/fhir/Consent", json=share, headers=anna_writer(ec, world))
    assert made.status_code == 201, made.text
    kin = relative(ec, world)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=kin)).status_code == 200
    goal = await anyone.get(f"/fhir/Goal/{world['anna-goal']}", headers=kin)
    assert goal.status_code in (403, 404), f"the relative reads a goal Anna did not share: {goal.text[:300]}"


async def test_a_consent_limited_to_one_plan_does_not_open_everything_to_a_unit(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """The same for a care unit: Anna lets the outsider read one plan (provision.data)."""
    consent = builders.consent(world["anna"], f"Organization/{world['outsider']}")
    consent["provision"]["data"] = [
        {"meaning": "instance", "reference": {"reference": f"CarePlan/{world['anna-plan']}"}}
    ]
    made = await anyone.post("/fhir/Consent", json=consent, headers=anna_writer(ec, world))
    assert made.status_code == 201, made.text
    outsider = stranger(rsa, world)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=outsider)).status_code == 200
    relatives = await anyone.get(f"/fhir/RelatedPerson/{world['anna-relative']}", headers=outsider)
    assert relatives.status_code in (403, 404), f"the outsider reads what Anna did not share: {relatives.text[:300]}"


async def test_a_consent_limited_to_a_kind_of_content_the_server_does_not_know_does_not_open_everything(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Anna lets the outsider read her PDF documents only (provision.class in the MIME type system,
    a code of R4's consent-content-class value set).  A class the server does not understand must
    not widen the consent to every kind of data."""
    consent = builders.consent(world["anna"], f"Organization/{world['outsider']}")
    consent["provision"]["class"] = [{"system": "urn:ietf:bcp:13", "code": "application/pdf"}]
    made = await anyone.post("/fhir/Consent", json=consent, headers=anna_writer(ec, world))
    assert made.status_code == 201, made.text
    plan = await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=stranger(rsa, world))
    assert plan.status_code in (403, 404), f"the outsider reads a care plan Anna did not share: {plan.text[:300]}"


# -- 6. a blocked unit's writes that name no owner (held) -------------------------------------------


async def test_held_a_message_the_blocked_unit_wrote_without_a_sender_is_blocked(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Rule 7: "a resource nobody owns by its content but the unit wrote (by its Provenance)" is
    the unit's.  The hospital's doctor writes Anna a message without ``sender`` (R4 0..1); Anna
    then blocks the hospital.  The outsider, reading with Anna's consent, must not read it."""
    message = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{world['anna']}"},
        "recipient": [{"reference": f"Patient/{world['anna']}"}],
        "payload": [{"contentString": "Provsvar från medicinkliniken: remiss till onkologen"}],
    }
    sent = await anyone.post("/fhir/Communication", json=message, headers=doctor(rsa, world))
    assert sent.status_code == 201, sent.text
    await consent_and_block(anyone, rsa, world)
    outsider = stranger(rsa, world)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=outsider)).status_code == 403
    read = await anyone.get(f"/fhir/Communication/{sent.json()['id']}", headers=outsider)
    found = await anyone.get("/fhir/Communication", params={"subject": f"Patient/{world['anna']}"}, headers=outsider)
    assert read.status_code in (403, 404) and "onkologen" not in found.text, read.text[:300]


# -- 7. what held (kept as regression guards) -------------------------------------------------------


def _comparable(response: httpx.Response) -> tuple[Any, ...]:
    """What an attacker can compare between two answers: status, diagnostics (without the probe's
    own numbers), how many entries, whether there is a next page, and the location headers."""
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    entries_count = len(body.get("entry", [])) if isinstance(body, dict) else None
    paging = (
        sorted(link["relation"] for link in body.get("link", []))
        if isinstance(body, dict) and body.get("resourceType") == "Bundle"
        else None
    )
    headers = tuple(sorted(k for k in response.headers if k.lower() in ("location", "content-location")))
    return (*shape(response), entries_count, paging, headers, "total" in (body or {}))


@pytest.mark.parametrize("caller", ["patient", "stranger", "unit-system", "relative-without-share"])
async def test_held_no_search_or_conditional_write_tells_whether_a_personnummer_has_a_record(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey, caller: str
) -> None:
    headers = {
        "patient": anna_writer(ec, world),
        "stranger": stranger(rsa, world),
        "unit-system": unit_system(rsa, world),
        "relative-without-share": relative(ec, world),
    }[caller]
    mine = await admin_post(anyone, rsa, builders.patient(family="Egen"))
    await outsider_team(anyone, rsa, World(ids={**world.ids, "mine": mine["id"]}), "mine")

    def probes(number: str) -> list[tuple[str, str, Any, dict[str, str]]]:
        pnr = f"{PERSONNUMMER}|{number}"
        goal = builders.goal(mine["id"] if caller in ("stranger", "unit-system") else world["anna"], "Mitt mål")
        return [
            ("GET", f"/fhir/Patient?identifier={pnr}&_sort=-birthdate&_count=1", None, {}),
            (
                "GET",
                f"/fhir/Patient?identifier={pnr},{PERSONNUMMER}|{world.numbers['anna']}&_sort=family&_count=1",
                None,
                {},
            ),
            ("GET", f"/fhir/CarePlan?subject:Patient.identifier={pnr}&_sort=_lastUpdated&_count=1", None, {}),
            ("GET", f"/fhir/Goal?patient.identifier={pnr}&_count=0", None, {}),
            ("GET", f"/fhir/Goal?patient.identifier={pnr}&_summary=count", None, {}),
            ("GET", f"/fhir/AuditEvent?patient.identifier={pnr}", None, {}),
            ("GET", f"/fhir/RelatedPerson?patient.identifier={pnr}&_include=RelatedPerson:patient", None, {}),
            ("GET", f"/fhir/Consent?patient.identifier={pnr}", None, {}),
            ("DELETE", f"/fhir/Goal?patient.identifier={pnr}", None, {}),
            ("PUT", f"/fhir/Goal?patient.identifier={pnr}", goal, {}),
            ("POST", "/fhir/Goal", goal, {"If-None-Exist": f"patient.identifier={pnr}"}),
        ]

    unknown = builders.personnummer()
    for (method, url, body, extra), (_, other_url, _, other_extra) in zip(
        probes(world.numbers["bertil"]), probes(unknown), strict=True
    ):
        first = await anyone.request(method, url, json=body, headers={**headers, **extra})
        second = await anyone.request(method, other_url, json=body, headers={**headers, **other_extra})
        assert _comparable(first) == _comparable(second), f"{caller} {method} {url}: {first.text[:300]}"


async def test_held_identifier_references_on_network_links_tell_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A personnummer on a care-network link (a contributor, an author, a member, a consent's
    actor) typed or untyped, in resources about the stranger's own patient."""
    mine = await admin_post(anyone, rsa, builders.patient(family="Egen"))
    await outsider_team(anyone, rsa, World(ids={**world.ids, "mine": mine["id"]}), "mine")
    outsider = stranger(rsa, world)

    def bodies(number: str) -> list[dict[str, Any]]:
        ident = {"system": PERSONNUMMER, "value": number}
        subject = {"reference": f"Patient/{mine['id']}"}
        return [
            builders.care_plan(mine["id"], contributor=[{"identifier": ident}]),
            builders.care_plan(mine["id"], contributor=[{"type": "Patient", "identifier": ident}]),
            builders.care_plan(mine["id"], author={"type": "RelatedPerson", "identifier": ident}),
            {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": subject,
                "participant": [{"member": {"type": "RelatedPerson", "identifier": ident}}],
            },
            {
                "resourceType": "Communication",
                "status": "completed",
                "subject": subject,
                "recipient": [{"type": "RelatedPerson", "identifier": ident}],
            },
            dict(builders.goal(mine["id"]), expressedBy={"identifier": ident}),
        ]

    for known, unknown in zip(bodies(world.numbers["bertil"]), bodies(builders.personnummer()), strict=True):
        first = await anyone.post(f"/fhir/{known['resourceType']}", json=known, headers=outsider)
        second = await anyone.post(f"/fhir/{unknown['resourceType']}", json=unknown, headers=outsider)
        assert shape(first) == shape(second), f"{known['resourceType']}: {first.text[:300]} / {second.text[:300]}"
        assert world["bertil"] not in first.text


async def test_held_validate_does_not_resolve_a_personnummer(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    outsider = stranger(rsa, world)
    answers = []
    for number in (world.numbers["bertil"], builders.personnummer()):
        goal = dict(builders.goal(world["anna"]), subject={"identifier": {"system": PERSONNUMMER, "value": number}})
        answer = await anyone.post("/fhir/Goal/$validate", json=goal, headers=outsider)
        answers.append(shape(answer))
        assert world["bertil"] not in answer.text
    assert answers[0] == answers[1], answers


async def test_held_the_blocked_unit_and_an_emergency_reader_do_not_see_the_block(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await block_hospital(anyone, rsa, world)
    helper = user_token(rsa, world, "helper", "other-outsider")
    opened = await anyone.post(
        f"/fhir/Patient/{world['anna']}/$emergency-access",
        json={"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "Medvetslös"}]},
        headers=helper,
    )
    assert opened.status_code == 200, opened.text
    for headers in (doctor(rsa, world), helper):
        consents = await anyone.get(
            "/fhir/Patient",
            params={"_id": world["anna"], "_revinclude": "Consent:patient"},
            headers=headers,
        )
        assert consents.status_code == 200
        assert '"Consent"' not in consents.text, consents.text[:400]
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=helper)).status_code == 403


async def test_held_npo_gives_a_relative_no_plan_not_approved_for_the_patient(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    answer = await anyone.post(
        CARE_PLANS,
        content=care_plans_envelope(world.numbers["anna"]),
        headers={**relative(ec, world), "Content-Type": "text/xml"},
    )
    assert answer.status_code == 200, answer.text[:300]
    assert "Intern planering" not in answer.text and world["anna-internal-plan"] not in answer.text


async def test_held_a_bundle_inside_a_batch_keeps_the_callers_rules(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A batch entry may post a whole Bundle to the base: it runs as the same caller."""
    inner = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": builders.goal(world["bertil"], "Injicerat"),
                "request": {"method": "POST", "url": "Goal"},
            }
        ],
    }
    reads = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"CarePlan/{world['bertil-plan']}"}}],
    }
    outer = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": inner, "request": {"method": "POST", "url": ""}},
            {"resource": reads, "request": {"method": "POST", "url": "/"}},
        ],
    }
    answer = await anyone.post("/fhir", json=outer, headers=anna_writer(ec, world))
    assert "Patientkontrakt" not in answer.text and world["bertil-plan"] not in answer.text.replace(
        f"CarePlan/{world['bertil-plan']} (", ""
    ), answer.text[:600]
    found = await anyone.get("/fhir/Goal", params={"patient": f"Patient/{world['bertil']}"}, headers=admin(rsa))
    assert "Injicerat" not in found.text


async def test_held_tokens_naming_another_patient_in_context_reach_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A patient token whose ``patient`` claim names Bertil (fhirUser is Anna), and Anna's
    relative's token with Bertil in context (Bertil shared with his own relative only)."""
    await admin_post(anyone, rsa, builders.consent(world["bertil"], f"RelatedPerson/{world['bertil-relative']}"))
    tokens = [
        bearer(mint(ec, scope="patient/*.rs", fhirUser=f"Patient/{world['anna']}", patient=world["bertil"])),
        bearer(
            mint(
                ec,
                scope="patient/*.rs",
                fhirUser=f"RelatedPerson/{world['anna-relative']}",
                patient=world["bertil"],
            )
        ),
    ]
    for headers in tokens:
        assert (await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}", headers=headers)).status_code == 404
        found = await anyone.get("/fhir/CarePlan", headers=headers)
        assert world["bertil-plan"] not in found.text


async def test_held_a_permit_nested_under_a_deny_opens_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    consent = builders.consent(world["anna"], f"Organization/{world['other-outsider']}", provision="deny")
    consent["provision"]["provision"] = [
        {
            "type": "permit",
            "actor": [
                {
                    "role": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}
                        ]
                    },
                    "reference": {"reference": f"Organization/{world['outsider']}"},
                }
            ],
        }
    ]
    await admin_post(anyone, rsa, consent)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=stranger(rsa, world))).status_code == 403


async def test_held_history_with_a_forged_cursor_tells_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    for headers in (stranger(rsa, world), anna_writer(ec, world)):
        for cursor in ("1", "999999999", "0"):
            found = await anyone.get(
                "/fhir/CarePlan/_history", params={"_count": "1", "_cursor": cursor}, headers=headers
            )
            assert found.status_code in (200, 400)
            assert world["bertil-plan"] not in found.text, found.text[:300]


# -- 8. versions of what the writer may not see ----------------------------------------------------


async def test_a_clinicians_versioned_reference_does_not_count_another_patients_versions(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The third review's fix for a patient's versioned reference, tried by a clinician: a note
    about the stranger's own patient naming ``CarePlan/<Bertil's plan>/_history/n``."""
    mine = await admin_post(anyone, rsa, builders.patient(family="Egen"))
    await outsider_team(anyone, rsa, World(ids={**world.ids, "mine": mine["id"]}), "mine")
    outsider = stranger(rsa, world)
    answers = []
    for version in (1, 7):
        note = {
            "resourceType": "Communication",
            "status": "completed",
            "subject": {"reference": f"Patient/{mine['id']}"},
            "about": [{"reference": f"CarePlan/{world['bertil-plan']}/_history/{version}"}],
            "payload": [{"contentString": "Se planen"}],
        }
        answers.append(shape(await anyone.post("/fhir/Communication", json=note, headers=outsider)))
    assert answers[0] == answers[1], f"version 1 and version 7 of Bertil's plan answer differently: {answers}"


# -- 9. the signal, seen from the writer --------------------------------------------------------------


async def test_the_outsiders_own_write_does_not_tell_it_of_a_contact_at_the_blocked_unit(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Anna's fixed care contact is the hospital's doctor; she blocks the hospital.  The outsider
    (a care relation of its own) writes her a contract: the server signals the blocked contact.
    Whatever the outsider can read afterwards of its own write (its access log, the trail of its
    plan) must not let it tell that a hidden unit holds her fixed care contact."""
    await make_fixed_contact(anyone, rsa, world, "anna-team")
    team = await outsider_team(anyone, rsa, world)
    goal = await anna_goal_for_contract(anyone, rsa, world)
    await block_hospital(anyone, rsa, world)
    outsider = stranger(rsa, world)
    own = contract(world["anna"], team["id"], goal["id"], f"PractitionerRole/{world['stranger-role']}")
    written = await anyone.post("/fhir/CarePlan", json=own, headers=outsider)
    assert written.status_code == 201, written.text
    log = await anyone.get(
        "/fhir/AuditEvent", params={"agent": f"Practitioner/{world['stranger']}", "_count": "100"}, headers=outsider
    )
    named = {
        item["what"]["reference"].split("/_history")[0]
        for event in entries(log)
        for item in event.get("entity", [])
        if item.get("what", {}).get("reference", "").startswith("Communication/")
    }
    refused = [
        reference
        for reference in named
        if (await anyone.get(f"/fhir/{reference}", headers=outsider)).status_code == 403
    ]
    trail = await anyone.get(f"/fhir/CarePlan/{written.json()['id']}/$revisions", headers=outsider)
    assert not refused, f"the outsider's own write made {refused}, which it may not read (a blocked contact)"
    assert world["stranger"] in trail.text, "the outsider's own revision is hidden from it (it names a blocked contact)"


# -- 10. more that held ----------------------------------------------------------------------------


async def test_held_a_services_conditional_writes_refuse_has(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await block_hospital(anyone, rsa, world)
    npo = service(rsa)
    probe = f"_has:CareTeam:subject:participant=PractitionerRole/{world['doctor-role']}"
    answers = [
        await anyone.delete(f"/fhir/Patient?{probe}", headers=npo),
        await anyone.put(f"/fhir/Patient?{probe}", json=builders.patient(), headers=npo),
        await anyone.post("/fhir/Goal", json=builders.goal(world["anna"]), headers={**npo, "If-None-Exist": probe}),
    ]
    for answer in answers:
        assert answer.status_code in (400, 403), answer.text[:300]


async def test_held_operations_on_another_patient_tell_a_patient_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    anna = anna_writer(ec, world)
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "x"}]}
    answers = {
        "validate": await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}/$validate", headers=anna),
        "revisions": await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}/$revisions", headers=anna),
        "fixed-contacts": await anyone.get(f"/fhir/Patient/{world['bertil']}/$fixed-contacts", headers=anna),
        "overview": await anyone.get(f"/overview/{world['bertil']}", headers={**anna, "Accept": "application/json"}),
        "merge": await anyone.post(
            "/fhir/Patient/$merge", json=builders.merge_parameters(world["bertil"], world["anna"]), headers=anna
        ),
        "emergency": await anyone.post(
            f"/fhir/Patient/{world['bertil']}/$emergency-access", json=parameters, headers=anna
        ),
        "validate-delete": await anyone.post(
            f"/fhir/Goal/{world['anna-goal']}/$validate",
            json={"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "delete"}]},
            headers=anna,
        ),
    }
    for name, answer in answers.items():
        assert world.numbers["bertil"] not in answer.text and "Patientkontrakt" not in answer.text, name
        assert world["bertil-plan"] not in answer.text.replace(f"CarePlan/{world['bertil-plan']}", ""), name
        if name not in ("validate-delete",):
            assert answer.status_code in (403, 404), f"{name}: {answer.status_code} {answer.text[:200]}"
    assert world["anna-internal-plan"] not in answers["validate-delete"].text

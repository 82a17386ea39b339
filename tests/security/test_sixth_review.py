"""A sixth, independent review (after the fixes of fe37061: per-version NOPATIENT judgement,
outcomeDesc masking, fail-closed capped fact reads, plans read from outside a blocked unit,
conditional creates answered with the caller's view).

Each test states what must happen when an attacker tries it, against a real server in
production mode (JWT, real signed tokens) on a real SQLite file.  The attackers: a patient's
token (Anna), her relative, a clinician of an unrelated unit (the stranger at "outsider") with
its own care relation or a consent, and a clinician of a blocked unit (the doctor at "hospital").

The findings, with their severity, are in each test's docstring; the ones that fail on the
reviewed commit are the findings, the ones that pass record what was tried and held.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.security.callers import (
    admin,
    admin_post,
    block_hospital,
    outsider_team,
    outsiders_plan,
    relative,
    returned,
    stranger,
)
from tests.security.test_fifth_review import annas_log
from tests.security.tokens import SigningKey
from tests.security.world import NOT_FOR_PATIENT, World, patient_token
from tests.support import builders

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# -- 1. the blocked unit's part in a plan, told by the search index instead of the content --------


async def test_includes_of_a_plan_read_from_outside_do_not_bring_the_blocked_units_people(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """MEDIUM.  Route: GET /fhir/CarePlan?_include=CarePlan:performer (and
    GET /fhir/PractitionerRole?_revinclude=CarePlan:performer).  fe37061 takes the blocked
    hospital's doctor out of ``activity.detail.performer`` of the outsider's plan as the outsider
    (or Anna's relative, with her share) reads it.  But ``_include`` follows the stored reference
    index, not the view: the same search includes the hospital's PractitionerRole (directory data,
    shown to anyone with the scope), so the outsider learns exactly what the filter keeps from it,
    that the blocked unit's doctor performs an activity in Anna's plan.  ``_revinclude`` from the
    role tells the same from the other side.  Fix: include from the caller's view of each match
    (follow the references the shown content still holds), and for ``_revinclude`` keep a referrer
    only when its shown content still names the target."""
    plan = await outsiders_plan(anyone, rsa, world)
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    role = f"PractitionerRole/{world['doctor-role']}"
    told = []
    for who, headers in (("outsider", stranger(rsa, world)), ("relative", relative(ec, world))):
        read = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=headers)
        assert read.status_code == 200 and role not in read.text, (who, read.status_code, read.text[:300])
        include = await anyone.get(
            "/fhir/CarePlan", params={"_id": plan["id"], "_include": "CarePlan:performer"}, headers=headers
        )
        if role in returned(include):
            told.append(f"{who}: _include=CarePlan:performer")
        revinclude = await anyone.get(
            "/fhir/PractitionerRole",
            params={"_id": world["doctor-role"], "_revinclude": "CarePlan:performer"},
            headers=headers,
        )
        if f"CarePlan/{plan['id']}" in returned(revinclude):
            told.append(f"{who}: _revinclude=CarePlan:performer")
    assert not told, f"the blocked unit's part in the plan is told through: {told}"


async def test_a_search_does_not_match_a_plan_by_what_its_view_keeps_from_the_caller(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM.  Route: GET /fhir/CarePlan?performer…, ?care-team=….  The outsider's view of its
    plan names neither the hospital's doctor nor the hospital's care team.  Its searches still
    match on them: ``performer:PractitionerRole.organization=Organization/<hospital>`` (a chain
    into the directory, which the policy allows; the hospital's id is directory data) returns the
    plan, and so does ``care-team=CareTeam/<the hospital's team>``.  A match is the answer: the
    hospital's people perform in Anna's plan.  (The same holds while ``unsure``: every other unit
    is filtered from the view, and every one can be tested by search.)  Fix: for a caller whose
    decision has blocked units (or is unsure), judge a match on the parameters the view filters
    (performer, care-team, goal, activity-reference, and any chain from them) against the view:
    re-evaluate those clauses on the shown content and drop the match when they no longer hold;
    or refuse such clauses for such callers."""
    plan = await outsiders_plan(anyone, rsa, world)
    outsider = stranger(rsa, world)
    told = []
    for params in (
        {"performer:PractitionerRole.organization": f"Organization/{world['hospital']}"},
        {"performer": f"PractitionerRole/{world['doctor-role']}"},
        {"care-team": f"CareTeam/{world['anna-team']}"},
    ):
        found = await anyone.get(
            "/fhir/CarePlan", params={"patient": f"Patient/{world['anna']}", **params}, headers=outsider
        )
        if f"CarePlan/{plan['id']}" in returned(found):
            told.append(params)
    assert not told, f"the outsider's plan matches on what its view keeps from the outsider: {told}"


async def test_validate_delete_does_not_name_a_plan_by_what_its_view_keeps_from_the_caller(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM.  Route: POST /fhir/PractitionerRole/<id>/$validate?mode=delete (and GET).  The
    dry run of a delete lists the visible resources that still refer to the one named, with the
    element: "PractitionerRole/<the hospital's doctor> is still referred to by CarePlan/<plan>
    (CarePlan.activity[0].detail.performer[0])".  The referrer is visible to the outsider, but
    only as a view without that element, so the answer tells what the view keeps from it (and
    the target is never judged at all).  Fix: list a referrer only when its view still holds the
    reference (or name only "other resources", as the real delete does)."""
    plan = await outsiders_plan(anyone, rsa, world)
    answer = await anyone.post(
        f"/fhir/PractitionerRole/{world['doctor-role']}/$validate",
        params={"mode": "delete"},
        headers=stranger(rsa, world),
    )
    assert answer.status_code == 200, answer.text[:300]
    assert plan["id"] not in answer.text, f"$validate names the plan by its hidden performer: {answer.text[:400]}"


# -- 2. the blocked unit's part in a plan, in the elements the view does not filter ---------------


async def test_a_plan_read_from_outside_names_the_blocked_unit_in_no_element(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM.  Route: GET /fhir/CarePlan/<id> (and every read of it: search, history, NPÖ).
    fe37061 filters ``contributor``, ``careTeam``, ``goal``, ``activity.reference``,
    ``activity.outcomeReference``, ``activity.detail.performer`` and ``activity.detail.goal``.
    The rest of the plan is shown as stored, and names the blocked hospital's information as
    well: ``note.authorReference`` (the hospital's doctor, in his own name), ``basedOn``,
    ``replaces`` and ``partOf`` (the hospital's own plan, itself blocked), ``supportingInfo`` (the
    hospital's goal), an extension's ``valueReference`` (the hospital's care team) and a
    ``contained`` care team managed by the hospital.  docs/security.md (threat model): "a plan
    read from outside names none of the unit's people, teams, goals or records".  Fix: filter by
    walking the whole plan (contained resources and extensions included) and removing every
    Reference that ``_names_blocked`` holds, rather than a list of known elements; a contained
    resource naming a blocked unit goes with the references to it."""
    team = await outsider_team(anyone, rsa, world)
    plan = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Vårdcentralens plan",
            author={"reference": f"PractitionerRole/{world['stranger-role']}"},
            careTeam=[{"reference": f"CareTeam/{team['id']}"}, {"reference": "#samarbete"}],
            note=[{"authorReference": {"reference": f"Practitioner/{world['doctor']}"}, "text": "Samråd"}],
            basedOn=[{"reference": f"CarePlan/{world['anna-plan']}"}],
            replaces=[{"reference": f"CarePlan/{world['anna-plan']}"}],
            partOf=[{"reference": f"CarePlan/{world['anna-plan']}"}],
            supportingInfo=[{"reference": f"Goal/{world['anna-goal']}"}],
            extension=[
                {
                    "url": "https://example.org/samverkan",
                    "valueReference": {"reference": f"CareTeam/{world['anna-team']}"},
                }
            ],
            contained=[
                {
                    "resourceType": "CareTeam",
                    "id": "samarbete",
                    "managingOrganization": [{"reference": f"Organization/{world['hospital']}"}],
                }
            ],
        ),
    )
    await block_hospital(anyone, rsa, world)
    read = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=stranger(rsa, world))
    assert read.status_code == 200, read.text[:300]
    named = [name for name in ("doctor", "hospital", "anna-plan", "anna-goal", "anna-team") if world[name] in read.text]
    assert not named, f"the outsider's read of its plan names the blocked unit's {named}"


# -- 3. the blocked unit's people on another unit's care team -------------------------------------


async def test_a_care_team_read_from_outside_does_not_name_the_blocked_units_people(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM.  Route: GET /fhir/CareTeam/<id> (search, includes, the care network of NPÖ and the
    overview alike).  The outsider's care team for Anna has the hospital's doctor as a participant
    (as a role, and in his own name on behalf of the hospital).  After Anna blocks the hospital,
    the outsider still reads him and the hospital there: who treats her at the blocked unit, the
    very fact that an Appointment with him (hidden whole: "appointments with the unit's people
    ... are the unit's too") or his part in a plan (filtered since fe37061) is kept for.  Fix:
    apply the plan view to CareTeam: take out participants whose member or onBehalfOf
    ``_names_blocked`` holds (and the whole participant, so that its role does not tell either)."""
    team = await outsider_team(
        anyone,
        rsa,
        world,
        participant=[
            {"member": {"reference": f"PractitionerRole/{world['stranger-role']}"}},
            {"member": {"reference": f"PractitionerRole/{world['doctor-role']}"}},
            {
                "member": {"reference": f"Practitioner/{world['doctor']}"},
                "onBehalfOf": {"reference": f"Organization/{world['hospital']}"},
            },
        ],
    )
    await block_hospital(anyone, rsa, world)
    read = await anyone.get(f"/fhir/CareTeam/{team['id']}", headers=stranger(rsa, world))
    assert read.status_code == 200, read.text[:300]
    named = [name for name in ("doctor-role", "doctor", "hospital") if world[name] in read.text]
    assert not named, f"the outsider's read of its care team names the blocked unit's {named}"


# -- 4. the patient's log: what a refused transaction entry's URL says -----------------------------


async def test_the_patients_log_does_not_quote_another_persons_personnummer_from_a_refused_entry(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """MEDIUM.  Route: GET /fhir/AuditEvent?patient=<own> (Anna's own log).  A clinician with a care
    relation to Anna sends one transaction: an entry about Anna's care team, and a conditional
    update of a Patient by personnummer (Bertil's), which is refused (403: a Patient's identifiers
    are set by the region).  The refusal is logged with Anna as a patient reached, and its
    ``outcomeDesc`` keeps the 403's words, which for a transaction start with the entry's method
    and URL: "entry[1] (PUT Patient?identifier=…personnummer|<Bertil's number>): …".  The logged
    query string masks every such value ("a combined lookup must not show one patient
    another's"), and fe37061 masks resource names in ``outcomeDesc``, but not the URL's search
    values: Anna reads Bertil's personnummer.  Fix: log the entry's URL as the query string is
    logged (``masked``), i.e. do not quote the request URL in a 403's diagnostics that reach the
    log, or mask ``outcomeDesc`` with the same rule before storing it."""
    team = await outsider_team(anyone, rsa, world)
    number = world.numbers["bertil"]
    personnummer = "http://electronichealth.se/identifier/personnummer"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": team, "request": {"method": "PUT", "url": f"CareTeam?_id={team['id']}"}},
            {
                "resource": builders.patient(number),
                "request": {"method": "PUT", "url": f"Patient?identifier={personnummer}|{number}"},
            },
        ],
    }
    refused = await anyone.post("/fhir", json=bundle, headers=stranger(rsa, world))
    assert refused.status_code == 403, refused.text[:300]
    told = [event.get("outcomeDesc") for event in await annas_log(anyone, ec, world) if number in json.dumps(event)]
    assert not told, f"Anna's log quotes Bertil's personnummer: {told}"


# -- 5. a write tells the patient why her own goal is kept from her --------------------------------


async def test_updating_her_own_goal_does_not_tell_the_patient_of_a_plan_not_approved_for_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """MEDIUM.  Routes: PUT /fhir/Goal/<id>, POST /fhir/Goal/<id>/$validate.  Anna writes a goal of
    her own ("Jag vill sluta dricka"); the hospital then holds it in an internal plan only,
    labelled NOPATIENT.  Rule 5 hides the goal from her: a read is 404, a delete says "does not
    exist", as for anything that does not exist for her.  But an update of it (and the dry run
    of one, $validate) answers 403 "This goal belongs to a plan not approved for the patient":
    the write tells her that a plan not approved for her exists and holds her goal, which every
    read is built not to tell.  Fix: in ``check_write``, when the caller is a patient or relative
    and ``_withheld`` refuses the previous content, answer as for a resource that does not exist
    for them (the 404 a read gives, or the 403 "You may not write Goal/<id>" that a conditional
    update gives), never the reason."""
    anna = patient_token(ec, world, "anna", scope="patient/*.cruds")
    created = await anyone.post("/fhir/Goal", json=builders.goal(world["anna"], "Jag vill sluta dricka"), headers=anna)
    assert created.status_code == 201, created.text[:300]
    goal = created.json()
    await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Utredning: beroende",
            author={"reference": f"PractitionerRole/{world['doctor-role']}"},
            goal=[{"reference": f"Goal/{goal['id']}"}],
            meta={"security": [NOT_FOR_PATIENT]},
        ),
    )
    assert (await anyone.get(f"/fhir/Goal/{goal['id']}", headers=anna)).status_code == 404
    body = {k: v for k, v in goal.items() if k != "meta"}
    body["description"] = {"text": "Jag vill dricka mindre"}
    told = []
    update = await anyone.put(f"/fhir/Goal/{goal['id']}", json=body, headers=anna)
    if "not approved" in update.text:
        told.append(f"PUT {update.status_code}")
    validate = await anyone.post(f"/fhir/Goal/{goal['id']}/$validate", json=body, headers=anna)
    if "not approved" in validate.text:
        told.append("$validate")
    assert not told, f"a write tells Anna of a plan not approved for her: {told}"


# -- held: what was tried against the fixes and held -------------------------------------------------


async def test_held_a_plan_labelled_then_deleted_is_told_by_no_history_page(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Per-version judgement (fe37061): a plan written unlabelled, labelled NOPATIENT, then
    deleted (its last content counts) is told to Anna by no instance history, vread of any
    version (the deletion too), $revisions, type history with ``_since``, or any page of the
    system history read one entry at a time."""
    plan = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"], title="Utredning demens", author={"reference": f"PractitionerRole/{world['doctor-role']}"}
        ),
    )
    relabel = await anyone.put(
        f"/fhir/CarePlan/{plan['id']}", json=dict(plan, meta={"security": [NOT_FOR_PATIENT]}), headers=admin(rsa)
    )
    assert relabel.status_code == 200
    assert (await anyone.delete(f"/fhir/CarePlan/{plan['id']}", headers=admin(rsa))).status_code in (200, 204)
    anna = patient_token(ec, world, "anna")
    told = []
    for path, params in (
        (f"/fhir/CarePlan/{plan['id']}/_history", {}),
        (f"/fhir/CarePlan/{plan['id']}/_history/1", {}),
        (f"/fhir/CarePlan/{plan['id']}/_history/3", {}),
        (f"/fhir/CarePlan/{plan['id']}/$revisions", {}),
        ("/fhir/CarePlan/_history", {"_since": "2000-01-01T00:00:00Z"}),
        ("/fhir/Provenance/_history", {}),
    ):
        answer = await anyone.get(path, params=params, headers=anna)
        shown = {k: v for k, v in answer.json().items() if k != "link"} if answer.status_code == 200 else {}
        if plan["id"] in json.dumps(shown):
            told.append(path)
    url: str | None = "/fhir/_history?_count=1"
    for _ in range(200):
        if url is None:
            break
        page = await anyone.get(url, headers=anna)
        assert page.status_code == 200, page.text[:300]
        if plan["id"] in json.dumps(page.json().get("entry", [])):
            told.append(url)
            break
        following = [link["url"] for link in page.json().get("link", []) if link["relation"] == "next"]
        url = httpx.URL(following[0]).raw_path.decode() if following else None
    assert not told, f"Anna is told of the plan through: {told}"


async def test_held_if_none_exist_does_not_match_the_patients_goal_kept_from_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A conditional create (and a transaction's ``ifNoneExist``) by Anna whose criteria name her
    goal held only by a plan not approved for her does not match it: a new goal is created, and
    nothing in the answer names the hidden one."""
    anna = patient_token(ec, world, "anna", scope="patient/*.cruds")
    hidden = await admin_post(anyone, rsa, builders.goal(world["anna"], "Internt mål"))
    await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Intern",
            author={"reference": f"PractitionerRole/{world['doctor-role']}"},
            goal=[{"reference": f"Goal/{hidden['id']}"}],
            meta={"security": [NOT_FOR_PATIENT]},
        ),
    )
    body = builders.goal(world["anna"], "Mitt mål")
    single = await anyone.post("/fhir/Goal", json=body, headers={**anna, "If-None-Exist": f"_id={hidden['id']}"})
    assert single.status_code == 201 and hidden["id"] not in single.text, single.text[:300]
    entry = {"resource": body, "request": {"method": "POST", "url": "Goal", "ifNoneExist": f"_id={hidden['id']}"}}
    bundle = await anyone.post(
        "/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]}, headers=anna
    )
    assert bundle.status_code == 200 and hidden["id"] not in bundle.text, bundle.text[:300]


async def test_held_a_revinclude_is_judged_by_the_parameter_the_view_still_holds(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The fix of finding 1 judges an include on the view's own index rows, by the include's
    parameter: a plan whose view names the outsider's role as its author (not as a performer)
    is not brought by ``_revinclude=CarePlan:performer`` from that role and the hidden doctor's
    together, while ``_revinclude=CarePlan:subject`` from Anna still brings it."""
    plan = await outsiders_plan(anyone, rsa, world)
    outsider = stranger(rsa, world)
    both = f"{world['doctor-role']},{world['stranger-role']}"
    performer = await anyone.get(
        "/fhir/PractitionerRole", params={"_id": both, "_revinclude": "CarePlan:performer"}, headers=outsider
    )
    assert performer.status_code == 200 and f"CarePlan/{plan['id']}" not in returned(performer), performer.text[:300]
    subject = await anyone.get(
        "/fhir/Patient", params={"_id": world["anna"], "_revinclude": "CarePlan:subject"}, headers=outsider
    )
    assert f"CarePlan/{plan['id']}" in returned(subject), subject.text[:300]

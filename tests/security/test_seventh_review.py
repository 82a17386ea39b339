"""A seventh, independent review (after 9f50421: searches answered by the caller's view,
access/views.py; the whole-resource walk of plans and care teams read from outside a blocked unit).

Production mode (JWT, real signed tokens) on a real SQLite file.  The attackers: Anna's patient
token, her relative's, and a clinician of an unrelated unit (the stranger at "outsider").
The ones that fail on the reviewed commit are findings (severity in the docstring); the ones that
pass record what was tried and held.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fhirbridge.fhir.xml import read_xml
from fhirbridge.sweden.identifiers import HSA_SYSTEM
from tests.security.callers import (
    admin_post,
    block_hospital,
    doctor,
    outsider_team,
    outsiders_plan,
    relative,
    returned,
    stranger,
)
from tests.security.test_fifth_review import annas_log
from tests.security.test_fourth_review import FIXED_CARE_CONTACT
from tests.security.tokens import SigningKey
from tests.security.world import World, patient_token
from tests.support import builders

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def bertils(world: World) -> list[str]:
    """What of Bertil's must never reach Anna's token: his ids, his personnummer, his goal's words."""
    return [
        world["bertil"],
        world["bertil-plan"],
        world["bertil-goal"],
        world["bertil-team"],
        world["bertil-relative"],
        world.numbers["bertil"],
        "bertil vill",
    ]


def leaks(world: World, answer: httpx.Response, asked: str = "") -> list[str]:
    """Bertil's secrets in an answer, beyond what the request itself named (an echo tells nothing)."""
    return [secret for secret in bertils(world) if secret in answer.text and secret not in asked]


async def test_held_a_patient_reaches_nothing_of_another_patient_on_any_read_route(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Held.  Every read route, with Bertil's ids in every place a patient can put them."""
    anna = patient_token(rsa, world, "anna", scope="patient/*.cruds")
    b, plan, goal, team = world["bertil"], world["bertil-plan"], world["bertil-goal"], world["bertil-team"]
    number = world.numbers["bertil"]
    gets = [
        f"/fhir/Patient/{b}",
        f"/fhir/Patient/{b}/_history",
        f"/fhir/Patient/{b}/_history/1",
        f"/fhir/CarePlan/{plan}/_history/1",
        f"/fhir/CarePlan/{plan}/$validate",
        f"/fhir/Goal/{goal}/$validate",
        f"/fhir/CarePlan/{plan}/$revisions",
        f"/fhir/Patient/{b}/$fixed-contacts",
        f"/fhir/CarePlan?_id={plan}",
        f"/fhir/CarePlan?_id={plan}&_summary=count",
        f"/fhir/CarePlan?_id={plan}&_total=accurate",
        f"/fhir/CarePlan?_id={plan}&_elements=id",
        f"/fhir/CarePlan?_id={plan}&_summary=true",
        f"/fhir/CarePlan?_id={plan}&_format=json",
        "/fhir/CarePlan?_sort=-_lastUpdated&_count=1",
        "/fhir/CarePlan?_sort=-_lastUpdated&_count=1&_include=CarePlan:goal&_include:iterate=Goal:subject",
        "/fhir/CarePlan?_include=*&_revinclude=*",
        "/fhir/Patient?_revinclude=CarePlan:subject&_revinclude:iterate=Goal:patient&_include:iterate=*",
        f"/fhir/Patient?identifier={number}",
        f"/fhir/Patient?_id={b}",
        f"/fhir/Patient?link=Patient/{b}",
        f"/fhir/RelatedPerson?_id={world['bertil-relative']}",
        f"/fhir/RelatedPerson?patient.identifier={number}",
        f"/fhir/Goal?_id={goal}",
        f"/fhir/Goal?patient=Patient/{b}",
        f"/fhir/CareTeam?_id={team}&_include=CareTeam:participant",
        f"/fhir/Provenance?target=CarePlan/{plan}",
        "/fhir/Provenance?_revinclude=*",
        f"/fhir/AuditEvent?entity=CarePlan/{plan}",
        f"/fhir/AuditEvent?patient=Patient/{b}",
        "/fhir/AuditEvent?_include=AuditEvent:entity",
        f"/fhir/CarePlan?subject:Patient.identifier={number}",
        "/fhir/CarePlan?patient:missing=false",
        f"/fhir/CarePlan?_id:not={world['anna-plan']}",
        "/fhir/CarePlan/_history",
        "/fhir/Goal/_history",
        "/fhir/_history",
        "/fhir/_history?_count=1000",
        f"/overview/{b}",
    ]
    told = {}
    for url in gets:
        answer = await anyone.get(url, headers=anna)
        assert answer.status_code < 500, (url, answer.status_code, answer.text[:300])
        if leaks(world, answer, url):
            told[url] = (answer.status_code, leaks(world, answer, url))
    for url, body in (
        ("/fhir/CarePlan/_search", {"_id": plan}),
        ("/fhir/Goal/_search", {"patient": f"Patient/{b}"}),
    ):
        answer = await anyone.post(url, data=body, headers=anna)
        assert answer.status_code < 500, (url, answer.status_code, answer.text[:300])
        if leaks(world, answer, json.dumps(body)):
            told[url] = (answer.status_code, leaks(world, answer, json.dumps(body)))
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": url.removeprefix("/fhir/")}}
            for url in gets
            if url.startswith("/fhir/")
        ],
    }
    answer = await anyone.post("/fhir", json=batch, headers=anna)
    assert answer.status_code < 500, answer.text[:300]
    for asked, entry in zip(batch["entry"], answer.json().get("entry", []), strict=True):
        url = asked["request"]["url"]
        shown = httpx.Response(200, text=json.dumps(entry))
        if leaks(world, shown, url):
            told[f"batch {url}"] = leaks(world, shown, url)
    assert not told, json.dumps(told, indent=1)


HSA = HSA_SYSTEM
HOSPITAL_HSA = "SE2321000198-E0000000101"


async def test_a_plan_read_from_outside_does_not_name_the_blocked_unit_by_its_hsa_id(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """MEDIUM.  Route: GET /fhir/CarePlan/{id} (and every search, NPÖ, overview that reads the
    same view).  The whole-resource walk of ae8c96b takes out References that *address* the
    blocked unit's people or units (``named_targets``: ``reference`` strings only).  The reference
    rule resolves a logical reference (``Reference.identifier`` only, the HSA-id, the usual way a
    Swedish integration names a unit) on patient and network links only; everywhere else
    (``note.authorReference``, ``supportingInfo``, an extension's ``valueReference``) it is stored
    as written, and a contained Organization or PractitionerRole that *carries* the unit's HSA-id
    (referred to as ``#h``) names nothing by address either.  So the outsider's (or Anna's
    relative's) view of the outsider's plan still names the blocked hospital, by its HSA-id and
    name, in each of these places: exactly what the block keeps from them.  Fix: in
    ``_without_blocked_units`` judge a logical Reference by its identifier (resolve an HSA-id
    to the directory entry, or, fail closed, take out every logical Reference to a directory type
    and every contained directory resource while a block holds), or resolve logical references to
    directory types on every element when they are written."""
    unit = {"identifier": {"system": HSA, "value": HOSPITAL_HSA}, "display": "Medicinkliniken"}
    plan = await outsiders_plan(
        anyone,
        rsa,
        world,
        contained=[
            {
                "resourceType": "Organization",
                "id": "h",
                "identifier": [{"system": HSA, "value": HOSPITAL_HSA}],
                "name": "Medicinkliniken",
            }
        ],
        note=[{"authorReference": unit, "text": "Remiss skickad"}],
        supportingInfo=[unit, {"reference": "#h"}],
        extension=[{"url": "http://example.org/fhir/StructureDefinition/consulted", "valueReference": unit}],
        category=[{"text": "vård"}],
    )
    # the writer's plan, as stored, names the hospital (read inside it: the block holds for the
    # region's services as well, so their view is filtered too)
    stored = (await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=doctor(rsa, world))).json()
    assert HOSPITAL_HSA in json.dumps(stored)
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    told = {}
    for who, headers in (("outsider", stranger(rsa, world)), ("relative", relative(ec, world))):
        read = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=headers)
        assert read.status_code == 200, (who, read.text[:300])
        shown = read.json()
        places = [
            name
            for name in ("contained", "note", "supportingInfo", "extension")
            if HOSPITAL_HSA in json.dumps(shown.get(name, ""))
        ]
        if places:
            told[who] = places
    assert not told, f"the blocked hospital is named by its HSA-id in the plan's view: {told}"


async def test_held_odd_search_input_on_a_filtered_view_is_no_fault_and_tells_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Held.  The view re-check of access/views.py on odd clauses (empty, contained, identifier,
    missing, typed, many values) and odd include forms, by the outsider and Anna's relative, on a
    plan whose view a block filters (with contained resources, nested extensions, a contained
    resource without the id FHIR wants): no 5xx, and no match or include tells of the hospital."""
    nested = {
        "url": "http://example.org/fhir/StructureDefinition/outer",
        "extension": [
            {
                "url": "inner",
                "extension": [
                    {"url": "deep", "valueReference": {"reference": f"PractitionerRole/{world['doctor-role']}"}}
                ],
            },
            {"url": "kept", "valueString": "x"},
        ],
    }
    plan = await outsiders_plan(
        anyone,
        rsa,
        world,
        extension=[nested],
        contained=[
            {
                "resourceType": "PractitionerRole",
                "id": "r",
                "organization": {"reference": f"Organization/{world['hospital']}"},
            }
        ],
        supportingInfo=[{"reference": "#r"}],
    )
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    role, hospital = f"PractitionerRole/{world['doctor-role']}", f"Organization/{world['hospital']}"
    patient = f"Patient/{world['anna']}"
    queries: list[dict[str, Any]] = [
        {"performer": ""},
        {"performer": ","},
        {"performer": "#r"},
        {"performer": "PractitionerRole/"},
        {"performer": f"{role},{role}"},
        {"performer": world["doctor-role"]},
        {"performer": f"http://fhirbridge.test/fhir/{role}"},
        {"performer": f"{role}/_history/1"},
        {"performer:PractitionerRole": world["doctor-role"]},
        {"performer:identifier": f"{HSA_SYSTEM}|{HOSPITAL_HSA}"},
        {"performer:missing": "false"},
        {"care-team": f"CareTeam/{world['anna-team']}"},
        {"care-team:missing": "true"},
        {"_include": "CarePlan:performer:PractitionerRole"},
        {"_include": "CarePlan:*"},
        {"_include": "*", "_elements": "id"},
        {"_include": "CarePlan:care-team", "_include:iterate": "CareTeam:participant", "_summary": "true"},
        {"_revinclude": "Provenance:target", "_summary": "text"},
        {"_sort": "-date", "_count": "1", "_include": "CarePlan:performer"},
        {"_elements": "supportingInfo,contained,extension"},
        {"_format": "xml"},
    ]
    told = []
    for who, headers in (("outsider", stranger(rsa, world)), ("relative", relative(ec, world))):
        for params in queries:
            found = await anyone.get("/fhir/CarePlan", params={"patient": patient, **params}, headers=headers)
            assert found.status_code < 500, (who, params, found.status_code, found.text[:300])
            shown = json.dumps(_entries(found)) if found.status_code == 200 else found.text
            if role in shown or hospital in shown:
                told.append((who, params))
            if found.status_code == 200 and params.get("performer") and f"CarePlan/{plan['id']}" in returned(found):
                told.append((who, params, "matched"))
        read = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=headers)
        assert read.status_code == 200 and role not in read.text and hospital not in read.text, (who, read.text)
        assert "kept" in read.text
    assert not told, told


async def test_a_care_team_does_not_match_by_the_role_of_a_participant_its_view_leaves_out(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """MEDIUM.  Route: GET /fhir/CareTeam?role=… (the server's own SearchParameter
    CareTeam-role, ``CareTeam.participant.role``).  The outsider's care team names the blocked
    hospital's doctor as the patient's fixed care contact (fast vårdkontakt).  Read from outside
    the hospital, the team's view leaves that whole participant out (ae8c96b: member, role and
    ``onBehalfOf``).  0dc051e re-judges a filtered match on its *reference* clauses only; a token
    clause on what the view took out still matches the stored index.  So
    ``CareTeam?patient=…&role=…|fast-vardkontakt`` returns a team whose shown participants hold
    no such role: the outsider (and the relative) learn that someone hidden from them, the blocked
    unit's person, is the patient's fixed care contact on it (and by trying every role, every
    role the blocked unit's people hold).  Fix: in ``still_matches`` re-judge every clause whose
    parameter's path reaches what the view changed (here any clause on ``participant``), i.e.
    re-evaluate all clauses, not only reference ones, on the view's own index rows (the view's
    ``extract_index`` gives token rows too), failing closed on what cannot be judged."""
    team = await outsider_team(
        anyone,
        rsa,
        world,
        participant=[
            {"member": {"reference": f"PractitionerRole/{world['stranger-role']}"}},
            {"member": {"reference": f"PractitionerRole/{world['doctor-role']}"}, "role": [FIXED_CARE_CONTACT]},
        ],
    )
    await block_hospital(anyone, rsa, world)
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    coding = FIXED_CARE_CONTACT["coding"][0]
    told = []
    for who, headers in (("outsider", stranger(rsa, world)), ("relative", relative(ec, world))):
        read = await anyone.get(f"/fhir/CareTeam/{team['id']}", headers=headers)
        assert read.status_code == 200, (who, read.text[:300])
        assert coding["code"] not in read.text, (who, read.text)  # the view holds no such role
        for value in (f"{coding['system']}|{coding['code']}", coding["code"]):
            found = await anyone.get(
                "/fhir/CareTeam", params={"patient": f"Patient/{world['anna']}", "role": value}, headers=headers
            )
            assert found.status_code == 200, (who, found.text[:300])
            if f"CareTeam/{team['id']}" in returned(found):
                told.append((who, value))
    assert not told, f"the team matches on the role of a participant its view leaves out: {told}"


async def test_held_fixed_contacts_npo_and_overview_leave_out_the_blocked_participant_of_an_outsiders_team(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Held.  The outsider's own team (not the hospital's) names the blocked hospital's doctor as
    fixed care contact: $fixed-contacts, NPÖ GetCareManagers and the overview, read by the
    outsider and Anna's relative, answer from the filtered view and name neither the doctor nor
    the hospital."""
    from tests.security.test_third_review import CARE_MANAGERS, care_managers_envelope

    await outsider_team(
        anyone,
        rsa,
        world,
        participant=[
            {"member": {"reference": f"PractitionerRole/{world['stranger-role']}"}},
            {"member": {"reference": f"PractitionerRole/{world['doctor-role']}"}, "role": [FIXED_CARE_CONTACT]},
        ],
    )
    await block_hospital(anyone, rsa, world)
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    secrets = (world["doctor-role"], world["doctor"], world["hospital"], HOSPITAL_HSA, "Medicinkliniken")
    for who, headers in (("outsider", stranger(rsa, world)), ("relative", relative(ec, world))):
        for answer in (
            await anyone.get(f"/fhir/Patient/{world['anna']}/$fixed-contacts", headers=headers),
            await anyone.get(f"/overview/{world['anna']}", headers={**headers, "Accept": "application/json"}),
            await anyone.post(
                CARE_MANAGERS,
                content=care_managers_envelope(world.numbers["anna"]),
                headers={**headers, "Content-Type": "text/xml"},
            ),
        ):
            assert answer.status_code < 500, (who, answer.url, answer.text[:300])
            told = [secret for secret in secrets if secret in answer.text]
            assert not told, (who, str(answer.url), told, answer.text[:600])


def _entries(found: httpx.Response) -> list[dict[str, Any]]:
    """A searchset's entries, answered in JSON or (``_format=xml``) in XML."""
    if "xml" in found.headers["content-type"]:
        return list(read_xml(found.content).get("entry", []))
    return list(found.json().get("entry", []))


def directory_provenance(resource: dict[str, Any]) -> bool:
    """A Provenance of a directory write (a PractitionerRole's creation): directory data."""
    targets = [str(t.get("reference", "")) for t in resource.get("target", [])]
    directory = ("PractitionerRole/", "Practitioner/", "Organization/")
    return resource.get("resourceType") == "Provenance" and all(t.startswith(directory) for t in targets)


async def test_held_histories_and_revisions_of_a_filtered_plan_do_not_name_the_blocked_unit(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Held.  The history routes hand out stored versions (HistoryEntry), not views: a version
    whose view a block filters must not come out whole through instance, type or system
    ``_history``, ``$revisions`` (its diffs) or a batch of them."""
    plan = await outsiders_plan(anyone, rsa, world)
    await admin_post(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    role = world["doctor-role"]
    for who, headers in (("outsider", stranger(rsa, world)), ("relative", relative(ec, world))):
        for path in (
            f"/fhir/CarePlan/{plan['id']}/_history",
            f"/fhir/CarePlan/{plan['id']}/_history/1",
            f"/fhir/CarePlan/{plan['id']}/$revisions",
            "/fhir/CarePlan/_history",
            "/fhir/_history",
        ):
            answer = await anyone.get(path, headers=headers)
            assert answer.status_code < 500, (who, path, answer.text[:300])
            entries = answer.json().get("entry", []) if answer.status_code == 200 else []
            naming = [
                e.get("resource", {})
                for e in entries
                if role in json.dumps(e)
                and e.get("resource", {}).get("resourceType")
                not in ("PractitionerRole", "Practitioner", "Organization")
                and not directory_provenance(e.get("resource", {}))
            ] or ([answer.text] if not entries and role in answer.text else [])
            assert not naming, (who, path, answer.status_code, json.dumps(naming)[:1500])


async def test_a_filtered_plans_history_shows_each_version_as_the_caller_reads_it(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A version the caller sees filtered is in its history as that view (as a vread gives it),
    not left out: the outsider's own plan has a history for the outsider too."""
    plan = await outsiders_plan(anyone, rsa, world)
    headers = stranger(rsa, world)
    read = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=headers)
    assert read.status_code == 200
    history = await anyone.get(f"/fhir/CarePlan/{plan['id']}/_history", headers=headers)
    assert history.status_code == 200
    versions = [e["resource"] for e in history.json().get("entry", []) if "resource" in e]
    assert [v["meta"]["versionId"] for v in versions] == [read.json()["meta"]["versionId"]]
    assert versions[0] == read.json()
    assert world["doctor-role"] not in json.dumps(versions)


async def test_an_update_of_a_filtered_view_does_not_erase_the_blocked_units_part(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """MEDIUM (integrity, patient safety; a consequence of the filtered view of ae8c96b).  Route:
    PUT /fhir/CarePlan/{id}, PUT /fhir/CareTeam/{id} by a clinician with a care relation outside a
    blocked unit.  The outsider reads its plan and team as views without the hospital's part
    (the hospital's doctor performing "Hjärtkontroll", the hospital's care team; the hospital's
    doctor as the patient's fixed care contact), changes the title and puts the view back, the
    ordinary read-modify-write of every client.  The update is accepted (200, and $validate calls
    it valid) and stores the view: the blocked unit's performer, care team and fixed care contact
    are erased from the patient's contract, silently, by someone who could not see them, and the
    hospital (which still treats the patient) finds them gone.  Fix: when the caller's view of the
    version being replaced was filtered, put back what the view took out (merge the stored
    references the caller could not see into the new content), or refuse the update (409/412
    "the resource holds information you may not see; it cannot be replaced whole") without
    naming what."""
    plan = await outsiders_plan(anyone, rsa, world)
    team = await outsider_team(
        anyone,
        rsa,
        world,
        participant=[
            {"member": {"reference": f"PractitionerRole/{world['stranger-role']}"}},
            {"member": {"reference": f"PractitionerRole/{world['doctor-role']}"}, "role": [FIXED_CARE_CONTACT]},
        ],
    )
    outsider = stranger(rsa, world)
    role, hospital_team = f"PractitionerRole/{world['doctor-role']}", f"CareTeam/{world['anna-team']}"
    erased = {}
    for kind, resource_id, change in (
        ("CarePlan", plan["id"], {"title": "Ändrad titel"}),
        ("CareTeam", team["id"], {"name": "Vårdcentralens team"}),
    ):
        view = (await anyone.get(f"/fhir/{kind}/{resource_id}", headers=outsider)).json()
        assert role not in json.dumps(view)  # the view leaves the hospital's part out
        put = await anyone.put(f"/fhir/{kind}/{resource_id}", json={**view, **change}, headers=outsider)
        assert put.status_code < 500, put.text[:300]
        if put.status_code >= 400:
            assert role not in put.text and hospital_team not in put.text, put.text  # refused without naming it
        # read inside the hospital: the block holds for the region's services too (their view is filtered)
        stored = json.dumps((await anyone.get(f"/fhir/{kind}/{resource_id}", headers=doctor(rsa, world))).json())
        lost = [name for name in (role, hospital_team) if name not in stored]
        if kind == "CareTeam":
            lost = [name for name in lost if name == role]
        if lost:
            erased[kind] = (put.status_code, lost)
    assert not erased, f"the outsider's update of its view erased the blocked unit's part: {erased}"


async def test_held_an_update_that_keeps_the_hidden_parts_is_refused_too_and_validate_answers_as_the_write(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Held (finding 3's fix, tightened by the eighth review's finding 1).  The outsider's PUT of
    its view is refused (409, naming nothing hidden) and ``$validate`` of that view says the same;
    a PUT whose content still holds every part the view left out (here the whole stored plan, as
    the hospital reads it) is refused alike (409): the answer does not depend on the content, so
    it tells nothing of the hidden parts, and the stored plan is unchanged."""
    plan = await outsiders_plan(anyone, rsa, world)
    outsider = stranger(rsa, world)
    role = f"PractitionerRole/{world['doctor-role']}"
    url = f"/fhir/CarePlan/{plan['id']}"
    view = {**(await anyone.get(url, headers=outsider)).json(), "title": "Ändrad"}
    checked = await anyone.post(f"{url}/$validate", json=view, headers=outsider)
    assert checked.status_code == 200 and '"error"' in checked.text, checked.text[:400]
    assert role not in checked.text and world["anna-team"] not in checked.text
    refused = await anyone.put(url, json=view, headers=outsider)
    assert refused.status_code == 409, refused.text[:400]
    assert role not in refused.text and world["anna-team"] not in refused.text
    whole = {**(await anyone.get(url, headers=doctor(rsa, world))).json(), "title": "Ändrad"}
    whole.pop("meta", None)
    assert role in json.dumps(whole)
    checked_whole = await anyone.post(f"{url}/$validate", json=whole, headers=outsider)
    assert checked_whole.status_code == 200 and '"error"' in checked_whole.text, checked_whole.text[:400]
    kept = await anyone.put(url, json=whole, headers=outsider)
    assert kept.status_code == 409, kept.text[:400]
    assert kept.json() == refused.json(), (kept.text[:400], refused.text[:400])
    stored = (await anyone.get(url, headers=doctor(rsa, world))).json()
    assert stored["title"] != "Ändrad" and role in json.dumps(stored)


async def test_held_the_patients_log_does_not_quote_another_persons_personnummer_from_a_refusals_words(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Held.  Review 6 finding 4 masked the *URL* of a refused transaction entry in the patient's
    log; here the refusal's own words would quote what the request named ("No Patient that you
    may write about carries the identifier …|<Bertil's number>").  A clinician with a care relation
    to Anna sends a transaction, a batch and a create naming Bertil by personnummer next to Anna's
    care team: a 422 is logged by its code only, and Anna's log quotes no personnummer."""
    team = await outsider_team(anyone, rsa, world)
    number = world.numbers["bertil"]
    personnummer = "http://electronichealth.se/identifier/personnummer"
    goal = dict(builders.goal(world["anna"]), subject={"identifier": {"system": personnummer, "value": number}})
    statuses = []
    for kind in ("transaction", "batch"):
        bundle = {
            "resourceType": "Bundle",
            "type": kind,
            "entry": [
                {"resource": team, "request": {"method": "PUT", "url": f"CareTeam/{team['id']}"}},
                {"resource": goal, "request": {"method": "POST", "url": "Goal"}},
            ],
        }
        answer = await anyone.post("/fhir", json=bundle, headers=stranger(rsa, world))
        statuses.append((kind, answer.status_code))
        assert answer.status_code < 500, answer.text[:300]
    single = await anyone.post("/fhir/Goal", json=goal, headers=stranger(rsa, world))
    statuses.append(("create", single.status_code))
    log = await annas_log(anyone, ec, world)
    assert log, "Anna's log is read"
    told = [event.get("outcomeDesc") for event in log if number in json.dumps(event)]
    assert not told, f"Anna's log quotes Bertil's personnummer ({statuses}): {told}"


async def test_held_a_relative_with_a_share_of_plans_only_reads_no_goal_or_team_anywhere(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """Held.  Anna shares her care plans only (provision.class CarePlan).  Her relative gets none
    of her goals' words or her care team through includes, the overview, $fixed-contacts, NPÖ
    GetCarePlans or GetCareManagers."""
    from tests.security.test_third_review import CARE_MANAGERS, CARE_PLANS, care_managers_envelope, care_plans_envelope

    share = builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}")
    share["provision"]["class"] = [{"system": "http://hl7.org/fhir/resource-types", "code": "CarePlan"}]
    await admin_post(anyone, rsa, share)
    kin = relative(ec, world)
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=kin)).status_code == 200
    secrets = ("anna vill", world["anna-goal"], world["anna-team"])  # the plan's author is shared with the plan
    answers = {
        "include": await anyone.get(
            "/fhir/CarePlan",
            params={
                "_include": ["CarePlan:goal", "CarePlan:care-team", "CarePlan:performer"],
                "_revinclude": "Provenance:target",
            },
            headers=kin,
        ),
        "overview": await anyone.get(f"/overview/{world['anna']}", headers={**kin, "Accept": "application/json"}),
        "fixed-contacts": await anyone.get(f"/fhir/Patient/{world['anna']}/$fixed-contacts", headers=kin),
        "npo-plans": await anyone.post(
            CARE_PLANS, content=care_plans_envelope(world.numbers["anna"]), headers={**kin, "Content-Type": "text/xml"}
        ),
        "npo-managers": await anyone.post(
            CARE_MANAGERS,
            content=care_managers_envelope(world.numbers["anna"]),
            headers={**kin, "Content-Type": "text/xml"},
        ),
    }
    told = {}
    for route, answer in answers.items():
        assert answer.status_code < 500, (route, answer.text[:300])
        text = answer.text
        if route == "include" and answer.status_code == 200:
            text = json.dumps(
                [e["resource"] for e in answer.json().get("entry", []) if e["resource"]["resourceType"] != "CarePlan"]
            )
        named = [secret for secret in secrets if secret in text]
        if named:
            told[route] = (answer.status_code, named)
    assert not told, told

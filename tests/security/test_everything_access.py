"""``Patient/[id]/$everything`` in production mode: the patient's record as the caller may see
it, paged, with what it refers to; a patient's token reaches their own record and nothing of
anyone else's, whatever URL, cursor or parameter they try."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.callers import admin, doctor, relative, stranger
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, patient_token
from tests.support.api import expressions, link, match_ids, outcome


async def _pages(client: httpx.AsyncClient, url: str, token: dict[str, str], **params: str) -> list[dict[str, Any]]:
    """Every page, following the next links with the token."""
    response = await client.get(url, params=params, headers=token)
    assert response.status_code == 200, response.text
    found = [response.json()]
    while (following := link(found[-1], "next")) is not None:
        assert len(found) < 50, "the next links do not end"
        response = await client.get(following, headers=token)
        assert response.status_code == 200, response.text
        found.append(response.json())
    return found


def _ids(pages: list[dict[str, Any]], mode: str = "match") -> list[str]:
    """The ids of the entries of one mode, leaving out the Provenances of the writes."""
    return [
        e["resource"]["id"]
        for page in pages
        for e in page.get("entry", [])
        if e["search"]["mode"] == mode and e["resource"]["resourceType"] != "Provenance"
    ]


def _everything(world: World, patient: str) -> str:
    return f"/fhir/Patient/{world[patient]}/$everything"


async def test_a_patient_pages_through_her_own_record_and_what_it_refers_to(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    anna = patient_token(rsa, world, "anna")
    pages = await _pages(anyone, _everything(world, "anna"), anna, _count="2")
    assert len(pages) >= 3  # the page size holds across types
    assert all(page["type"] == "searchset" and len(match_ids(page)) <= 2 for page in pages)
    matches = _ids(pages)
    assert matches[0] == world["anna"]  # the Patient first
    assert sorted(matches) == sorted(
        world[name] for name in ("anna", "anna-team", "anna-goal", "anna-plan", "anna-relative")
    )  # not the plan kept from her (NOPATIENT), nothing of Bertil's, no duplicates
    included = set(_ids(pages, "include"))
    assert world["doctor-role"] in included  # the plan's author and the team's member
    assert world["hospital"] in included  # the team's managing organisation
    assert not included & {world["bertil"], world["anna-internal-plan"]}
    assert all("total" not in page for page in pages)
    provenances = [e["resource"] for page in pages for e in page.get("entry", []) if e["search"]["mode"] == "match"]
    targets = [t["reference"] for p in provenances if p["resourceType"] == "Provenance" for t in p["target"]]
    assert targets and all(t.startswith(f"Patient/{world['anna']}") for t in targets)  # her Patient's own


async def test_another_patients_record_is_not_found_by_any_route(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    anna = patient_token(rsa, world, "anna")
    bertils = outcome(await anyone.get(_everything(world, "bertil"), headers=anna), 404)
    nobodys = outcome(await anyone.get("/fhir/Patient/no-such-patient/$everything", headers=anna), 404)
    said = bertils["issue"][0]["diagnostics"].replace(world["bertil"], "ID")
    assert said == nobodys["issue"][0]["diagnostics"].replace("no-such-patient", "ID")  # as if there were none
    outcome(await anyone.post(_everything(world, "bertil"), headers=anna), 404)
    # a cursor handed out for Bertil's record, used on her own, shows her own record only
    region = await anyone.get(_everything(world, "bertil"), params={"_count": "2"}, headers=admin(rsa))
    following = link(region.json(), "next")
    assert following is not None
    outcome(await anyone.get(following, headers=anna), 404)
    cursor = following.split("_cursor=")[1]
    own = await anyone.get(_everything(world, "anna"), params={"_count": "50", "_cursor": cursor}, headers=anna)
    assert own.status_code == 200, own.text
    assert not set(match_ids(own.json())) & {world["bertil"], world["bertil-plan"], world["bertil-goal"]}
    # nor does the type-level form reach anyone's
    across = outcome(await anyone.get("/fhir/Patient/$everything", headers=anna), 404)
    assert "Patient/[id]/$everything" in across["issue"][0]["diagnostics"]  # not served across all patients


async def test_a_clinician_sees_what_the_care_relation_shows_and_an_outsider_nothing(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    pages = await _pages(anyone, _everything(world, "anna"), doctor(rsa, world), _count="50")
    assert world["anna-internal-plan"] in _ids(pages)  # the care team sees the plan kept from the patient
    assert not set(_ids(pages)) & {world["bertil"], world["bertil-plan"]}
    refused = outcome(await anyone.get(_everything(world, "anna"), headers=stranger(rsa, world)), 403)
    assert world["anna-plan"] not in str(refused)
    # a relative without a share from her reads no more of her record than of her Patient
    outcome(await anyone.get(f"/fhir/Patient/{world['anna']}", headers=relative(rsa, world)), 404)
    outcome(await anyone.get(_everything(world, "anna"), headers=relative(rsa, world)), 404)


async def test_scopes_since_and_type_narrow_the_record(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    narrow = bearer(
        mint(
            rsa, scope="patient/Patient.rs patient/Goal.rs", fhirUser=f"Patient/{world['anna']}", patient=world["anna"]
        )
    )
    pages = await _pages(anyone, _everything(world, "anna"), narrow, _count="50")
    assert sorted(_ids(pages)) == sorted([world["anna"], world["anna-goal"]])  # the types her token covers
    outcome(await anyone.get(_everything(world, "anna"), params={"_type": "CarePlan"}, headers=narrow), 403)
    anna = patient_token(rsa, world, "anna")
    only = await _pages(anyone, _everything(world, "anna"), anna, _type="CarePlan,PractitionerRole")
    assert _ids(only) == [world["anna-plan"]]
    assert set(_ids(only, "include")) == {world["doctor-role"]}
    goal = (await anyone.get(f"/fhir/Goal/{world['anna-goal']}", headers=admin(rsa))).json()
    goal["lifecycleStatus"] = "completed"
    changed = await anyone.put(f"/fhir/Goal/{world['anna-goal']}", json=goal, headers=admin(rsa))
    assert changed.status_code == 200, changed.text
    later = await _pages(anyone, _everything(world, "anna"), anna, _since=changed.json()["meta"]["lastUpdated"])
    assert _ids(later) == [world["anna-goal"]]
    bad = outcome(await anyone.get(_everything(world, "anna"), params={"_since": "yesterday"}, headers=anna), 400)
    assert expressions(bad) == ["_since"]
    refused = outcome(await anyone.get(_everything(world, "anna"), params={"start": "2026-01-01"}, headers=anna), 400)
    assert expressions(refused) == ["start"]
    unknown = outcome(await anyone.get(_everything(world, "anna"), params={"_type": "Nothing"}, headers=anna), 400)
    assert expressions(unknown) == ["_type"]
    log = outcome(await anyone.get(_everything(world, "anna"), params={"_type": "AuditEvent"}, headers=anna), 400)
    assert "AuditEvent?patient=" in log["issue"][0]["diagnostics"]


async def test_post_takes_the_parameters_in_a_parameters_body(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "_type", "valueCode": "Goal"}]}
    response = await anyone.post(_everything(world, "anna"), json=body, headers=patient_token(rsa, world, "anna"))
    assert response.status_code == 200, response.text
    assert match_ids(response.json()) == [world["anna-goal"]]

"""A change feed page's Provenances are judged by the versions they name (R4 provenance.html:
``target``), read for the whole page at once and judged once per request (docs/benchmarks.md,
"Issue 15: Provenance targets read together"), and still each by the version it names: a
Provenance of a plan version not approved for the patient stays out of her feed pages and her
log, one that also names a hidden version stays hidden, whichever page it falls on."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.callers import admin, admin_post, block_hospital, outsiders_plan, stranger
from tests.security.test_change_feed_access import _feed
from tests.security.test_change_feed_judging import _labelled, _named
from tests.security.test_patient_data_act import log_of
from tests.security.tokens import SigningKey
from tests.security.world import NOT_FOR_PATIENT, World, patient_token
from tests.support import builders

PAGE_SIZES = (2, 100)
"""A page of a few Provenances (several requests), and one page of them all (one request)."""


async def _provenances_of(anyone: httpx.AsyncClient, rsa: SigningKey, plan_id: str) -> dict[int, str]:
    """The ids of the Provenances the server recorded for each version of a plan."""
    found = await anyone.get(
        "/fhir/Provenance", params={"target": f"CarePlan/{plan_id}", "_count": "50"}, headers=admin(rsa)
    )
    assert found.status_code == 200, found.text
    versions: dict[int, str] = {}
    for entry in found.json().get("entry", []):
        for target in entry["resource"]["target"]:
            prefix = f"CarePlan/{plan_id}/_history/"
            if target["reference"].startswith(prefix):
                versions[int(target["reference"][len(prefix) :])] = entry["resource"]["id"]
    return versions


async def _put(anyone: httpx.AsyncClient, rsa: SigningKey, resource: dict[str, Any]) -> None:
    response = await anyone.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=admin(rsa))
    assert response.status_code == 200, response.text


async def _current(anyone: httpx.AsyncClient, rsa: SigningKey, reference: str) -> str:
    """``Type/id/_history/v`` of a resource's current version."""
    read = await anyone.get(f"/fhir/{reference}", headers=admin(rsa))
    assert read.status_code == 200, read.text
    return f"{reference}/_history/{read.json()['meta']['versionId']}"


def _provenance(world: World, *targets: str, agent: str = "doctor") -> dict[str, Any]:
    """A Provenance of ``targets`` recorded by a practitioner (the hospital's doctor)."""
    return dict(builders.provenance(targets[0], world[agent]), target=[{"reference": t} for t in targets])


def _ids(entries: list[dict[str, Any]]) -> set[str]:
    return {e["fullUrl"].rsplit("/", 1)[1] for e in entries}


async def test_a_provenance_of_a_version_not_approved_for_the_patient_stays_out_of_her_feed_and_log(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    # written not approved for Anna, then approved: the Provenance of the first version stays hidden
    approved = await admin_post(
        anyone, rsa, builders.care_plan(world["anna"], title="Först intern", meta={"security": [NOT_FOR_PATIENT]})
    )
    await _put(anyone, rsa, {k: v for k, v in approved.items() if k != "meta"})
    # written for Anna, then labelled not for her: every version's Provenance is hidden from then on
    withdrawn = await admin_post(anyone, rsa, builders.care_plan(world["anna"], title="Senare intern"))
    await _put(anyone, rsa, {**withdrawn, "meta": {"security": [NOT_FOR_PATIENT]}})
    plan_v1 = await _current(anyone, rsa, f"CarePlan/{world['anna-plan']}")
    internal_v1 = await _current(anyone, rsa, f"CarePlan/{world['anna-internal-plan']}")
    both = (await admin_post(anyone, rsa, _provenance(world, plan_v1, internal_v1)))["id"]
    open_one = (await admin_post(anyone, rsa, _provenance(world, plan_v1)))["id"]
    # named without a version: judged by the current one (the approved plan's second)
    open_now = (await admin_post(anyone, rsa, _provenance(world, f"CarePlan/{approved['id']}")))["id"]
    internal_now = (await admin_post(anyone, rsa, _provenance(world, f"CarePlan/{world['anna-internal-plan']}")))["id"]
    approved_ones = await _provenances_of(anyone, rsa, approved["id"])
    withdrawn_ones = await _provenances_of(anyone, rsa, withdrawn["id"])
    assert set(approved_ones) == set(withdrawn_ones) == {1, 2}

    shown = {approved_ones[2], open_one, open_now}
    hidden = {approved_ones[1], withdrawn_ones[1], withdrawn_ones[2], both, internal_now}
    anna = patient_token(ec, world, "anna")
    for count in PAGE_SIZES:
        fed = _ids(await _feed(anyone, "/fhir/Provenance/_history", anna, count))
        assert shown <= fed, (count, shown - fed)
        assert not fed & hidden, count

    # the region's integration reads them all; what it read is logged apart when kept from Anna
    fed = _ids(await _feed(anyone, "/fhir/Provenance/_history", admin(rsa), 100))
    assert shown | hidden <= fed
    history = [e for e in await log_of(anyone, rsa) if any(c.get("code") == "history-type" for c in e["subtype"])]
    kept = set().union(*(_named(e) for e in history if _labelled(e)))
    told = set().union(*(_named(e) for e in history if not _labelled(e)))
    for provenance in (approved_ones[1], both, internal_now):
        assert f"Provenance/{provenance}/_history/1" in kept - told, provenance
    for provenance in shown:
        assert f"Provenance/{provenance}/_history/1" in told - kept, provenance
    own_log = await anyone.get("/fhir/AuditEvent", params={"_count": "500"}, headers=anna)
    assert own_log.status_code == 200, own_log.text[:300]
    assert not {provenance for provenance in hidden if f"Provenance/{provenance}/" in own_log.text}
    assert {provenance for provenance in shown if f"Provenance/{provenance}/" in own_log.text} == shown


async def test_a_provenance_naming_a_version_hidden_by_a_block_stays_hidden_on_every_page(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """Anna blocks the hospital: to the outsider unit (her care relation) the hospital's plan is
    hidden, and so is every Provenance naming it, however many on a page name it; the outsider's
    own plan, seen without the hospital's parts, keeps its Provenance in view."""
    plan = await outsiders_plan(anyone, rsa, world, block=False)
    outsiders = await _provenances_of(anyone, rsa, plan["id"])
    hospitals = await _provenances_of(anyone, rsa, world["anna-plan"])
    plan_v1 = await _current(anyone, rsa, f"CarePlan/{plan['id']}")
    hospital_v1 = await _current(anyone, rsa, f"CarePlan/{world['anna-plan']}")
    mixed = (await admin_post(anyone, rsa, _provenance(world, plan_v1, hospital_v1, agent="stranger")))["id"]
    again = (await admin_post(anyone, rsa, _provenance(world, hospital_v1, agent="stranger")))["id"]
    own = (await admin_post(anyone, rsa, _provenance(world, plan_v1, agent="stranger")))["id"]
    await block_hospital(anyone, rsa, world)

    shown = {outsiders[1], own}
    hidden = {*hospitals.values(), mixed, again}
    outsider = stranger(rsa, world)
    for count in PAGE_SIZES:
        fed = _ids(await _feed(anyone, "/fhir/Provenance/_history", outsider, count))
        assert shown <= fed, (count, shown - fed)
        assert not fed & hidden, count


async def test_a_provenance_of_a_goal_on_an_earlier_page_is_logged_apart_when_the_goal_is_kept_from_her(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """A Goal only a plan not approved for Anna holds is kept from her, and so is a Provenance
    naming it: the integration's read of that Provenance is logged apart (not in Anna's own log)
    also when the Goal itself came on an earlier page than the Provenance (the Goals a page's
    Provenances name are asked about with the page's own Goals: ``_unapproved_goals``)."""
    goal = await admin_post(anyone, rsa, builders.goal(world["anna"], "Internt mål"))
    internal = builders.care_plan(world["anna"], title="Intern", meta={"security": [NOT_FOR_PATIENT]})
    await admin_post(anyone, rsa, {**internal, "goal": [{"reference": f"Goal/{goal['id']}"}]})
    open_goal = await admin_post(anyone, rsa, builders.goal(world["anna"], "Öppet mål"))
    await admin_post(
        anyone,
        rsa,
        {**builders.care_plan(world["anna"], title="Öppen"), "goal": [{"reference": f"Goal/{open_goal['id']}"}]},
    )
    kept_one = (await admin_post(anyone, rsa, _provenance(world, f"Goal/{goal['id']}/_history/1")))["id"]
    told_one = (await admin_post(anyone, rsa, _provenance(world, f"Goal/{open_goal['id']}/_history/1")))["id"]
    # pages of one: the page with a Provenance is judged from just after the page before it
    fed = _ids(await _feed(anyone, "/fhir/_history", admin(rsa), 1))
    assert {kept_one, told_one, goal["id"], open_goal["id"]} <= fed
    history = [e for e in await log_of(anyone, rsa) if any(c.get("code") == "history-system" for c in e["subtype"])]
    kept = set().union(*(_named(e) for e in history if _labelled(e)))
    told = set().union(*(_named(e) for e in history if not _labelled(e)))
    assert f"Provenance/{kept_one}/_history/1" in kept - told
    assert f"Provenance/{told_one}/_history/1" in told - kept
    own_log = await anyone.get("/fhir/AuditEvent", params={"_count": "500"}, headers=patient_token(ec, world, "anna"))
    assert own_log.status_code == 200, own_log.text[:300]
    assert f"Provenance/{kept_one}/" not in own_log.text
    assert f"Provenance/{told_one}/" in own_log.text

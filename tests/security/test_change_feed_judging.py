"""A change feed page is judged cheaply (docs/benchmarks.md, "Issue 15: a cheaper change feed")
and still exactly: a view made for a caller outside a blocked unit keeps every decimal as it was
written (R4 datatypes.html#decimal), and what an unrestricted caller read is still logged apart
when it is kept from the patient (a plan labelled not for her, and a goal only such a plan
holds), however few of a page's versions are parsed to tell."""

from __future__ import annotations

import json
from typing import Any

import httpx

from fhirbridge.contract.codes import NOT_FOR_PATIENT as NOT_FOR_PATIENT_CODE
from tests.security.callers import admin, block_hospital, outsider_team, stranger
from tests.security.test_change_feed_access import _feed
from tests.security.tokens import SigningKey
from tests.security.world import NOT_FOR_PATIENT, World, patient_token
from tests.support import builders

DECIMAL = "0.50"
"""Written with a trailing zero, which a float would lose (``0.5``)."""


async def test_a_plan_read_from_outside_a_blocked_unit_keeps_its_decimals_in_the_feed_and_a_read(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    team = await outsider_team(anyone, rsa, world)
    plan = builders.care_plan(
        world["anna"],
        title="Vårdcentralens plan",
        author={"reference": f"PractitionerRole/{world['stranger-role']}"},
        careTeam=[{"reference": f"CareTeam/{team['id']}"}],
        activity=[
            {
                "detail": {
                    "status": "scheduled",
                    "description": "Hjärtkontroll",
                    "performer": [{"reference": f"PractitionerRole/{world['doctor-role']}"}],
                    "quantity": {"value": "DECIMAL"},
                }
            }
        ],
    )
    body = json.dumps(plan).replace('"DECIMAL"', DECIMAL)
    created = await anyone.post(
        "/fhir/CarePlan", content=body, headers={**admin(rsa), "Content-Type": "application/fhir+json"}
    )
    assert created.status_code == 201, created.text
    plan_id = created.json()["id"]
    await block_hospital(anyone, rsa, world)
    outsider = stranger(rsa, world)

    read = await anyone.get(f"/fhir/CarePlan/{plan_id}", headers=outsider)
    assert read.status_code == 200, read.text[:300]
    fed = [e for e in await _feed(anyone, "/fhir/CarePlan/_history", outsider, count=50) if plan_id in e["fullUrl"]]
    assert len(fed) == 1
    for shown, text in ((read.json(), read.text), (fed[0]["resource"], json.dumps(fed[0]))):
        # the view: the blocked unit's doctor is taken out, and the quantity is as written
        assert world["doctor-role"] not in text
        assert shown["activity"][0]["detail"]["quantity"] == {"value": 0.5}
    assert f'"quantity":{{"value":{DECIMAL}}}' in read.text
    page = await anyone.get(
        "/fhir/CarePlan/_history", params={"_sort": "_lastUpdated", "_count": "50"}, headers=outsider
    )
    assert f'"quantity":{{"value":{DECIMAL}}}' in page.text


def _named(event: dict[str, Any]) -> set[str]:
    return {str(e.get("what", {}).get("reference", "")) for e in event.get("entity", [])}


def _labelled(event: dict[str, Any]) -> bool:
    codes = {(s.get("system"), s.get("code")) for s in event.get("meta", {}).get("security", [])}
    return NOT_FOR_PATIENT_CODE in codes


async def test_what_an_unrestricted_reader_of_the_feed_read_is_logged_apart_when_kept_from_the_patient(
    client: httpx.AsyncClient,
) -> None:
    """Development mode: every caller is unrestricted, and its feed pages are not judged; the
    access log's mark (which of its entries the patient's own log may show) still is."""

    async def post(resource: dict[str, Any]) -> str:
        response = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    anna = await post(builders.patient(family="Andersson"))
    open_goal = await post(builders.goal(anna, "Att orka gå till affären själv"))
    hidden_goal = await post(builders.goal(anna, "Internt mål: utred missbruk"))
    open_plan = await post(builders.care_plan(anna, goal=[{"reference": f"Goal/{open_goal}"}]))
    hidden_plan = await post(
        builders.care_plan(
            anna,
            title="Intern utredning",
            goal=[{"reference": f"Goal/{hidden_goal}"}],
            meta={"security": [NOT_FOR_PATIENT]},
        )
    )
    fed = await _feed(client, "/fhir/_history", {}, count=100)
    read = {e["fullUrl"].split("/fhir/", 1)[1] for e in fed}
    assert {f"CarePlan/{hidden_plan}", f"Goal/{hidden_goal}", f"CarePlan/{open_plan}"} <= read

    log = await client.get("/fhir/AuditEvent", params={"_count": "500"})
    assert log.status_code == 200, log.text[:300]
    events = [e["resource"] for e in log.json().get("entry", [])]
    history = [e for e in events if any(c.get("code") == "history-system" for c in e.get("subtype", []))]
    assert history, "the feed's pages are logged"
    kept = set().union(*(_named(e) for e in history if _labelled(e)))
    told = set().union(*(_named(e) for e in history if not _labelled(e)))
    for hidden in (f"CarePlan/{hidden_plan}/_history/1", f"Goal/{hidden_goal}/_history/1"):
        assert hidden in kept and hidden not in told, hidden
    for shown in (f"CarePlan/{open_plan}/_history/1", f"Goal/{open_goal}/_history/1"):
        assert shown in told and shown not in kept, shown


async def test_a_goal_only_a_plan_not_approved_for_the_patient_holds_stays_out_of_her_feed_pages(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    """The goals of a page are judged together (one statement for all): the one a plan not
    approved for Anna holds stays out of every page of her feed, the others' goals are in it."""
    admin_headers = admin(rsa)

    async def post(resource: dict[str, Any]) -> str:
        response = await anyone.post(f"/fhir/{resource['resourceType']}", json=resource, headers=admin_headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    shown = [await post(builders.goal(world["anna"], f"Mål {n}")) for n in range(3)]
    hidden = await post(builders.goal(world["anna"], "Internt mål: utred missbruk"))
    await post(builders.care_plan(world["anna"], goal=[{"reference": f"Goal/{goal}"} for goal in shown]))
    await post(
        builders.care_plan(
            world["anna"],
            title="Intern utredning",
            goal=[{"reference": f"Goal/{hidden}"}],
            meta={"security": [NOT_FOR_PATIENT]},
        )
    )
    anna = patient_token(ec, world, "anna")
    for count in (2, 50):
        fed = {e["fullUrl"].rsplit("/", 1)[1] for e in await _feed(anyone, "/fhir/Goal/_history", anna, count)}
        assert set(shown) <= fed and hidden not in fed, count

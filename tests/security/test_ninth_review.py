"""The ninth adversarial review's attacks, kept as tests (docs/security.md rule 7).

A plan or care team read from outside a blocked unit is shown without the unit's parts (a
view).  The review found three routes that still used the stored content of such a resource:
the fixed-contact rule's refusal named the hidden holder, a Subscription sent the stored plan
and matched criteria on its hidden references, and conditional criteria matched on them (one
guess at a time).  The fix is one rule, fail closed: a resource the caller sees only as such a
view is known to reads and searches, and to nothing else.  A fourth finding: a Goal expressed
by the blocked unit's doctor named by HSA-id was shown (the reference is now resolved)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM
from fhirbridge.sweden.identifiers import HSA_SYSTEM
from tests.security.callers import (
    admin,
    admin_post,
    block_hospital,
    doctor,
    outsider_team,
    outsiders_plan,
    service,
    stranger,
)
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support import builders


def _fixed_contact(member: str, start: str, **member_extra: Any) -> dict[str, Any]:
    return {
        "member": {"reference": member, **member_extra},
        "role": [{"coding": [{"system": CARE_ROLE_SYSTEM, "code": "fast-vardkontakt"}]}],
        "period": {"start": start},
    }


async def test_the_fixed_contact_refusal_does_not_name_a_holder_the_view_leaves_out(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """HIGH (finding 1): ``$validate`` or a create of a second fixed care contact named the
    blocked hospital's doctor, the team and since when."""
    doctor_role = f"PractitionerRole/{world['doctor-role']}"
    team = await outsider_team(
        anyone,
        rsa,
        world,
        participant=[
            {"member": {"reference": f"PractitionerRole/{world['stranger-role']}"}},
            _fixed_contact(doctor_role, "2025-01-01", display="Dr Lind, Medicinkliniken"),
        ],
    )
    await block_hospital(anyone, rsa, world)
    teams_before = await _teams(anyone, rsa, world)
    outsider = stranger(rsa, world)
    view = await anyone.get(f"/fhir/CareTeam/{team['id']}", headers=outsider)
    assert view.status_code == 200 and world["doctor-role"] not in view.text
    second = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['anna']}"},
        "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
        "participant": [_fixed_contact(f"PractitionerRole/{world['stranger-role']}", "2025-06-01")],
    }
    for answer in (
        await anyone.post("/fhir/CareTeam/$validate", json=second, headers=outsider),
        await anyone.post("/fhir/CareTeam", json=second, headers=outsider),
    ):
        assert answer.status_code in (200, 409), answer.text
        for told in (world["doctor-role"], "Medicinkliniken", team["id"], "2025-01-01"):
            assert told not in answer.text, f"the refusal tells of {told}: {answer.text}"
    assert await _teams(anyone, rsa, world) == teams_before, "the rule still holds: no second fixed care contact"


async def _teams(anyone: httpx.AsyncClient, rsa: SigningKey, world: World) -> int:
    found = await anyone.get(
        "/fhir/CareTeam", params={"subject": f"Patient/{world['anna']}"}, headers=doctor(rsa, world)
    )
    assert found.status_code == 200, found.text
    return len(found.json().get("entry", []))


async def test_a_subscription_is_not_sent_a_plan_its_owner_sees_only_in_part(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World, secure_app: FastAPI
) -> None:
    """HIGH (finding 2): the NPÖ platform read the view, but was sent the stored plan, and a
    Subscription on the hidden performer fired (an oracle even without a payload)."""
    npo = service(rsa)
    feeds = []
    for criteria in (
        f"CarePlan?patient=Patient/{world['anna']}",
        f"CarePlan?performer=PractitionerRole/{world['doctor-role']}",
    ):
        body = builders.subscription(criteria, payload="application/fhir+json")
        created = await anyone.post("/fhir/Subscription", json=body, headers=npo)
        assert created.status_code == 201, created.text
        feeds.append(created.json()["id"])
    plan = await outsiders_plan(anyone, rsa, world)
    view = await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=npo)
    assert view.status_code == 200 and world["doctor-role"] not in view.text
    # the hospital's doctor (inside the blocked unit: the whole plan) revises it
    inside = doctor(rsa, world)
    stored = (await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=inside)).json()
    answer = await anyone.put(
        f"/fhir/CarePlan/{plan['id']}", json=dict(stored, description="Ändrad efter spärren"), headers=inside
    )
    assert answer.status_code == 200, answer.text
    async with secure_app.state.context.repository.database.reader() as conn:
        rows = await conn.fetch("SELECT subscription_id, res_id, version FROM outbox WHERE delivered IS NULL")
    # version 1 was written before the block (sent, rightly); the revision after it is owed to nobody
    assert [row[0] for row in rows if row[0] in feeds and row[1] == plan["id"] and row[2] > 1] == []


async def test_conditional_criteria_do_not_match_on_what_the_view_leaves_out(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """MEDIUM (finding 3): a conditional update or create whose criteria name the hidden
    performer answered differently from one naming anyone else."""
    plan = await outsiders_plan(anyone, rsa, world)
    outsider = stranger(rsa, world)
    view = (await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=outsider)).json()
    answers: dict[str, list[tuple[int, str]]] = {}
    for guess in (world["doctor-role"], world["stranger-role"], world["helper-role"]):
        criteria = f"_id={plan['id']}&performer=PractitionerRole/{guess}"
        update = await anyone.put(f"/fhir/CarePlan?{criteria}", json=view, headers=outsider)
        body = {k: v for k, v in view.items() if k not in ("id", "meta")}
        create = await anyone.post("/fhir/CarePlan", json=body, headers={**outsider, "If-None-Exist": criteria})
        answers[guess] = [
            (update.status_code, _diagnostics(update)),
            (create.status_code, "" if create.status_code == 201 else _diagnostics(create)),
        ]
    hidden, *others = answers.values()
    assert all(other == hidden for other in others), answers
    assert (await anyone.get(f"/fhir/CarePlan/{plan['id']}", headers=admin(rsa))).json()["meta"]["versionId"] == "1"


def _diagnostics(response: httpx.Response) -> str:
    issues = response.json().get("issue", []) if response.headers.get("content-type", "").endswith("json") else []
    return " ".join(str(issue.get("diagnostics")) for issue in issues)


async def test_a_goal_expressed_by_the_blocked_units_doctor_named_by_hsa_id_is_the_units(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World
) -> None:
    """HIGH (finding 4): ``Goal.expressedBy`` by HSA-id stayed logical, so the goal was not
    told to be the hospital's, and the outsider read it, the doctor's HSA-id and name with it."""
    doctor = (await anyone.get(f"/fhir/Practitioner/{world['doctor']}", headers=admin(rsa))).json()
    hsa_id = next(i["value"] for i in doctor["identifier"] if i["system"] == HSA_SYSTEM)
    await outsider_team(anyone, rsa, world)
    logical = {"type": "Practitioner", "identifier": {"system": HSA_SYSTEM, "value": hsa_id}, "display": "Dr Lind"}
    goal = await admin_post(
        anyone,
        rsa,
        dict(builders.goal(world["anna"], "Orka gå i trappor (sagt till kardiologen)"), expressedBy=logical),
    )
    assert goal["expressedBy"]["reference"] == f"Practitioner/{world['doctor']}"
    assert (await anyone.get(f"/fhir/Goal/{goal['id']}", headers=stranger(rsa, world))).status_code == 200
    await block_hospital(anyone, rsa, world)
    hidden = await anyone.get(f"/fhir/Goal/{goal['id']}", headers=stranger(rsa, world))
    assert hidden.status_code in (403, 404) and hsa_id not in hidden.text, hidden.text

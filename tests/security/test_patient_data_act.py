"""The Patient Data Act for clinicians: care relation, consent, blocks, emergency access, and
the access log, with real tokens (tests/security/world.py has the people and units)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from fhirbridge.access import policy
from fhirbridge.fhir.instants import now_us
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, build_world, patient_token, user_token
from tests.support import builders
from tests.support.api import match_ids

ADMIN_SCOPE = "system/*.cruds"


@pytest.fixture
async def world(anyone: httpx.AsyncClient, rsa: SigningKey, reference_form: str) -> World:
    return await build_world(anyone, rsa, reference_form)


async def admin_writes(client: httpx.AsyncClient, key: SigningKey, resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        f"/fhir/{resource['resourceType']}", json=resource, headers=bearer(mint(key, scope=ADMIN_SCOPE))
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def log_of(client: httpx.AsyncClient, key: SigningKey, **params: str) -> list[dict[str, Any]]:
    """AuditEvents as the region's log reviewer (a system with the AuditEvent scope) finds them."""
    response = await client.get(
        "/fhir/AuditEvent", params={**params, "_count": "500"}, headers=bearer(mint(key, scope="system/AuditEvent.rs"))
    )
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


async def test_the_care_team_reads_the_contract_and_an_outsider_is_refused(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    doctor = user_token(rsa, world, "doctor", "hospital")
    assert (await anyone.get(plan, headers=doctor)).status_code == 200
    stranger = user_token(rsa, world, "stranger", "outsider")
    refused = await anyone.get(plan, headers=stranger)
    assert refused.status_code == 403
    assert "consent" in refused.json()["issue"][0]["diagnostics"]
    assert "$emergency-access" in refused.json()["issue"][0]["diagnostics"]
    found = await anyone.get("/fhir/CarePlan", params={"subject": f"Patient/{world['anna']}"}, headers=stranger)
    assert found.status_code == 200 and match_ids(found.json()) == []
    assert "total" not in found.json()  # a count would tell of what is hidden


async def test_consent_opens_the_contract_to_another_caregiver_and_a_block_closes_it_again(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    stranger = user_token(rsa, world, "stranger", "outsider")
    await admin_writes(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    assert (await anyone.get(plan, headers=stranger)).status_code == 200
    await admin_writes(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )
    blocked = await anyone.get(plan, headers=stranger)
    assert blocked.status_code == 403 and "spärr" in blocked.text
    assert (await anyone.get(plan, headers=user_token(rsa, world, "doctor", "hospital"))).status_code == 200
    found = await anyone.get("/fhir/CarePlan", params={"subject": f"Patient/{world['anna']}"}, headers=stranger)
    assert world["anna-plan"] not in match_ids(found.json())


async def test_a_block_on_a_unit_covers_its_caregiver_but_not_the_unit_itself(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A block of the whole region (the hospital's caregiver) closes the hospital's contract to
    an outsider with consent; the hospital, inside the region, still reads its own."""
    await admin_writes(anyone, rsa, builders.consent(world["anna"], f"Organization/{world['outsider']}"))
    await admin_writes(
        anyone, rsa, builders.consent(world["anna"], f"Organization/{world['region']}", provision="deny", role="CST")
    )
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    assert (await anyone.get(plan, headers=user_token(rsa, world, "stranger", "outsider"))).status_code == 403
    assert (await anyone.get(plan, headers=user_token(rsa, world, "doctor", "hospital"))).status_code == 200


async def test_emergency_access_is_deliberate_time_limited_audited_and_never_through_a_block(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = f"/fhir/CarePlan/{world['bertil-plan']}"
    helper = user_token(rsa, world, "helper", "other-outsider")
    operation = f"/fhir/Patient/{world['bertil']}/$emergency-access"
    assert (await anyone.get(plan, headers=helper)).status_code == 403
    no_reason = {"resourceType": "Parameters", "parameter": [{"name": "minutes", "valueInteger": 30}]}
    assert (await anyone.post(operation, json=no_reason, headers=helper)).status_code == 400
    too_long = {
        "resourceType": "Parameters",
        "parameter": [{"name": "reason", "valueString": "Akut"}, {"name": "minutes", "valueInteger": 100000}],
    }
    assert (await anyone.post(operation, json=too_long, headers=helper)).status_code == 400
    system_token = bearer(mint(rsa, scope=ADMIN_SCOPE))
    asked = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "reason", "valueString": "Medvetslös på akuten"},
            {"name": "minutes", "valueInteger": 30},
        ],
    }
    assert (await anyone.post(operation, json=asked, headers=system_token)).status_code == 403  # a person's act
    granted = await anyone.post(operation, json=asked, headers=helper)
    assert granted.status_code == 200, granted.text
    assert (await anyone.get(plan, headers=helper)).status_code == 200
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=helper)).status_code == 403  # one patient

    log = await log_of(anyone, rsa, patient=f"Patient/{world['bertil']}")
    grants = [e for e in log if e.get("period")]
    assert len(grants) == 1 and grants[0]["purposeOfEvent"][0]["text"] == "Medvetslös på akuten"
    reads = [e for e in log if e["subtype"][0]["code"] == "read" and e["outcome"] == "0"]
    under_emergency = [e for e in reads if e.get("purposeOfEvent")]
    assert under_emergency, "the read under emergency access is audited with its reason"
    assert under_emergency[0]["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert under_emergency[0]["agent"][0]["who"]["reference"] == f"Practitioner/{world['helper']}"

    await admin_writes(
        anyone,
        rsa,
        builders.consent(world["bertil"], f"Organization/{world['hospital']}", provision="deny", role="CST"),
    )
    assert (await anyone.get(plan, headers=helper)).status_code == 403  # never through a block

    later = now_us() + 31 * 60_000_000
    monkeypatch.setattr(policy, "now_us", lambda: later)
    unblocked_goal = f"/fhir/Patient/{world['bertil']}"
    assert (await anyone.get(unblocked_goal, headers=helper)).status_code == 403  # the grant has ended


async def test_a_relative_sees_what_the_patient_shared_and_nothing_else(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey, rsa: SigningKey
) -> None:
    relative = bearer(
        mint(ec, scope="patient/*.rs", fhirUser=f"RelatedPerson/{world['anna-relative']}", patient=world["anna"])
    )
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    assert (await anyone.get(plan, headers=relative)).status_code == 404
    await admin_writes(anyone, rsa, builders.consent(world["anna"], f"RelatedPerson/{world['anna-relative']}"))
    assert (await anyone.get(plan, headers=relative)).status_code == 200
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-internal-plan']}", headers=relative)).status_code == 404
    assert (await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}", headers=relative)).status_code == 404


async def test_the_patient_reads_who_accessed_their_data_and_the_log_holds_no_bodies(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    doctor = user_token(rsa, world, "doctor", "hospital")
    await anyone.get(f"/fhir/Goal/{world['anna-goal']}", headers=doctor)
    await anyone.get("/fhir/CarePlan", params={"subject": f"Patient/{world['anna']}"}, headers=doctor)
    await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}", headers=user_token(rsa, world, "stranger", "outsider"))

    anna = patient_token(ec, world, "anna", scope="patient/*.rs")
    own_log = await anyone.get("/fhir/AuditEvent", params={"patient": f"Patient/{world['anna']}"}, headers=anna)
    assert own_log.status_code == 200, own_log.text
    events = [e["resource"] for e in own_log.json()["entry"]]
    doctors = [e for e in events if e["agent"][0]["who"].get("reference") == f"Practitioner/{world['doctor']}"]
    assert {e["subtype"][0]["code"] for e in doctors} >= {"read", "search-type"}
    assert all(e["agent"][1]["who"]["reference"] == f"Organization/{world['hospital']}" for e in doctors)
    assert any(f"Goal/{world['anna-goal']}/_history/1" in str(e.get("entity")) for e in doctors)
    text = own_log.text
    assert "vill gå till affären" not in text  # the goal's words never reach the log
    searched = [e for e in doctors if e["subtype"][0]["code"] == "search-type"]
    query = next(x["query"] for x in searched[0]["entity"] if "query" in x)
    assert base64.b64decode(query).decode() == "subject=[value]"  # which parameter, not whom it named
    bertils = await anyone.get("/fhir/AuditEvent", params={"patient": f"Patient/{world['bertil']}"}, headers=anna)
    assert bertils.json().get("entry", []) == []

    mine = await anyone.get("/fhir/AuditEvent", params={"agent": f"Practitioner/{world['doctor']}"}, headers=doctor)
    assert mine.status_code == 200 and len(mine.json()["entry"]) >= 2
    refused = [e for e in await log_of(anyone, rsa, patient=f"Patient/{world['bertil']}") if e["outcome"] == "4"]
    assert refused and "consent" in refused[0]["outcomeDesc"]


async def test_the_log_is_append_only_and_a_token_replaces_x_provenance(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    doctor = user_token(rsa, world, "doctor", "hospital")
    await anyone.get(f"/fhir/Patient/{world['anna']}", headers=doctor)
    event = (await log_of(anyone, rsa))[0]
    admin = bearer(mint(rsa, scope=ADMIN_SCOPE))
    assert (await anyone.put(f"/fhir/AuditEvent/{event['id']}", json=event, headers=admin)).status_code == 405
    assert (await anyone.delete(f"/fhir/AuditEvent/{event['id']}", headers=admin)).status_code == 405

    claim = (
        '{"resourceType":"Provenance","agent":[{"who":{"reference":"Practitioner/' + world["stranger"] + '"}}],'
        '"reason":[{"text":"Followup"}]}'
    )
    goal = builders.goal(world["anna"], "Gå i trappor")
    written = await anyone.post("/fhir/Goal", json=goal, headers={**doctor, "X-Provenance": claim})
    assert written.status_code == 201, written.text
    provenance = await anyone.get("/fhir/Provenance", params={"target": f"Goal/{written.json()['id']}"}, headers=doctor)
    agent = provenance.json()["entry"][0]["resource"]["agent"][0]
    assert agent["who"]["reference"] == f"Practitioner/{world['doctor']}"  # the token's, not the claim's
    assert agent["onBehalfOf"]["reference"] == f"Organization/{world['hospital']}"
    assert provenance.json()["entry"][0]["resource"]["reason"][0]["text"] == "Followup"


async def test_an_outsider_cannot_write_into_a_patients_plans(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    stranger = user_token(rsa, world, "stranger", "outsider")
    goal = builders.goal(world["anna"], "Smyga in ett mål")
    assert (await anyone.post("/fhir/Goal", json=goal, headers=stranger)).status_code == 403
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['anna']}"},
        "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
    }
    assert (await anyone.post("/fhir/CareTeam", json=team, headers=stranger)).status_code == 403
    newcomer = await admin_writes(anyone, rsa, builders.patient())
    first_team = dict(team, subject={"reference": f"Patient/{newcomer['id']}"})
    assert (await anyone.post("/fhir/CareTeam", json=first_team, headers=stranger)).status_code == 403
    await admin_writes(anyone, rsa, first_team)  # the first care relation comes from the region's systems
    directory = await anyone.get(f"/fhir/Organization/{world['outsider']}", headers=stranger)
    moved = dict(directory.json(), partOf={"reference": f"Organization/{world['hospital']}"})
    assert (
        await anyone.put(f"/fhir/Organization/{world['outsider']}", json=moved, headers=stranger)
    ).status_code == 403


async def test_what_is_hidden_is_not_counted_named_or_told(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    stranger = user_token(rsa, world, "stranger", "outsider")
    counted = await anyone.get("/fhir/Patient", params={"_total": "accurate", "_count": "1"}, headers=stranger)
    assert "total" not in counted.json()
    refused = await anyone.get(f"/fhir/Goal/{world['bertil-goal']}", headers=stranger)
    assert refused.status_code == 403 and world["bertil"] not in refused.text
    anna = patient_token(rsa, world, "anna", scope="patient/*.cruds")
    probe = await anyone.get(f"/fhir/Patient/{world['bertil']}/$validate", params={"mode": "delete"}, headers=anna)
    assert world["bertil-plan"] not in probe.text
    admin = bearer(mint(rsa, scope=ADMIN_SCOPE))
    plan = (await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}", headers=admin)).json()
    without_goal = {key: value for key, value in plan.items() if key != "goal"}
    assert (await anyone.put(f"/fhir/CarePlan/{plan['id']}", json=without_goal, headers=admin)).status_code == 200
    assert (await anyone.delete(f"/fhir/Goal/{world['bertil-goal']}", headers=admin)).status_code in (200, 204)
    history = await anyone.get("/fhir/_history", params={"_count": "500"}, headers=anna)
    assert world["bertil-goal"] not in history.text  # nor the Provenance of Bertil's deleted goal


async def test_a_refused_write_is_logged_with_the_patient_as_a_refused_read_is(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """An outsider's update, patch, delete and create about Bertil are refused, and each attempt
    is in Bertil's access log (outcome 4, with what the outsider was told), as a refused read is."""
    admin = bearer(mint(rsa, scope=ADMIN_SCOPE))
    plan = f"/fhir/CarePlan/{world['bertil-plan']}"
    content = (await anyone.get(plan, headers=admin)).json()
    stranger = user_token(rsa, world, "stranger", "outsider")
    goal = builders.goal(world["bertil"], "Gå i trappor")
    before = len(await log_of(anyone, rsa, patient=f"Patient/{world['bertil']}"))
    attempts = {
        "update": await anyone.put(plan, json={**content, "title": "Ändrad"}, headers=stranger),
        "patch": await anyone.patch(
            plan,
            json=[{"op": "replace", "path": "/title", "value": "Ändrad"}],
            headers={**stranger, "Content-Type": "application/json-patch+json"},
        ),
        "delete": await anyone.delete(plan, headers=stranger),
        "create": await anyone.post("/fhir/Goal", json=goal, headers=stranger),
    }
    assert {name: answer.status_code for name, answer in attempts.items()} == dict.fromkeys(attempts, 403)
    logged = await log_of(anyone, rsa, patient=f"Patient/{world['bertil']}")
    refused = [e for e in logged[before:] if e["outcome"] == "4"]  # oldest first
    assert sorted(e["subtype"][0]["code"] for e in refused) == sorted(attempts)
    told = {name: answer.json()["issue"][0]["diagnostics"] for name, answer in attempts.items()}
    assert {e["subtype"][0]["code"]: e["outcomeDesc"] for e in refused} == {
        name: f"HTTP 403: {diagnostics}" for name, diagnostics in told.items()
    }
    assert "consent" in told["update"] and "consent" in told["create"]
    assert (await anyone.get(plan, headers=admin)).json()["title"] == content["title"]  # nothing changed

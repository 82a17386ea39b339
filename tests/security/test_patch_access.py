"""PATCH in production mode (bearer tokens, the access policy, the access log): a patch is
judged as the update it makes, and *before* it is applied, so that no ``test`` operation can
tell a caller what they may not read."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.callers import anna_writer, relative, stranger
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, user_token
from tests.support.api import outcome

JSON_PATCH = {"Content-Type": "application/json-patch+json"}


async def _patch(
    client: httpx.AsyncClient, url: str, operations: list[dict[str, Any]], token: dict[str, str]
) -> httpx.Response:
    return await client.patch(url, json=operations, headers={**token, **JSON_PATCH})


def _probe(title: str) -> list[dict[str, Any]]:
    """A patch that would tell, by failing or not, whether the plan's title is ``title``."""
    return [{"op": "test", "path": "/title", "value": title}, {"op": "replace", "path": "/status", "value": "revoked"}]


async def _log(client: httpx.AsyncClient, key: SigningKey, patient: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/fhir/AuditEvent",
        params={"patient": f"Patient/{patient}", "_count": "500"},
        headers=bearer(mint(key, scope="system/AuditEvent.rs")),
    )
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


def _patches(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if any(code.get("code") == "patch" for code in e["subtype"])]


async def test_a_patient_cannot_patch_or_probe_another_patients_plan(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    anna = anna_writer(rsa, world)
    url = f"/fhir/CarePlan/{world['bertil-plan']}"
    right = outcome(await _patch(anyone, url, _probe("Patientkontrakt"), anna), 404)
    wrong = outcome(await _patch(anyone, url, _probe("Något annat"), anna), 404)
    nobody = outcome(await _patch(anyone, "/fhir/CarePlan/no-such-plan", _probe("x"), anna), 404)
    assert right["issue"] == wrong["issue"]  # the test operation was never evaluated
    said = right["issue"][0]["diagnostics"].replace(world["bertil-plan"], "ID")
    assert said == nobody["issue"][0]["diagnostics"].replace("no-such-plan", "ID")  # as if it did not exist
    by_criteria = f"/fhir/CarePlan?_id={world['bertil-plan']}"
    outcome(await _patch(anyone, by_criteria, _probe("Patientkontrakt"), anna), 404)
    admin = bearer(mint(rsa, scope="system/*.cruds", client_id="region-integration"))
    plan = (await anyone.get(url, headers=admin)).json()
    assert plan["meta"]["versionId"] == "1" and plan["status"] == "active"


async def test_a_patient_may_not_patch_her_own_plan_nor_a_relative_anything(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    url = f"/fhir/CarePlan/{world['anna-plan']}"
    outcome(await _patch(anyone, url, _probe("Patientkontrakt"), anna_writer(rsa, world)), 403)
    outcome(await _patch(anyone, url, _probe("Patientkontrakt"), relative(rsa, world)), 403)


async def test_a_clinician_without_a_care_relation_is_refused_before_any_test_is_made(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    url = f"/fhir/CarePlan/{world['anna-plan']}"
    right = outcome(await _patch(anyone, url, _probe("Patientkontrakt"), stranger(rsa, world)), 403)
    wrong = outcome(await _patch(anyone, url, _probe("Något annat"), stranger(rsa, world)), 403)
    assert right["issue"] == wrong["issue"]


async def test_the_care_team_patches_and_the_access_log_records_it(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    doctor = user_token(rsa, world, "doctor", "hospital")
    url = f"/fhir/CarePlan/{world['anna-plan']}"
    response = await _patch(anyone, url, [{"op": "replace", "path": "/title", "value": "Annas kontrakt"}], doctor)
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["versionId"] == "2"
    stale = await _patch(
        anyone, url, [{"op": "replace", "path": "/title", "value": "x"}], {**doctor, "If-Match": 'W/"1"'}
    )
    outcome(stale, 412)
    logged = _patches(await _log(anyone, rsa, world["anna"]))
    assert [e["outcome"] for e in logged] == ["0", "4"] or [e["outcome"] for e in logged] == ["4", "0"]
    done = next(e for e in logged if e["outcome"] == "0")
    assert done["action"] == "U"
    named = [entity["what"]["reference"] for entity in done["entity"] if "reference" in entity.get("what", {})]
    assert f"CarePlan/{world['anna-plan']}/_history/2" in named and f"Patient/{world['anna']}" in named
    assert done["agent"][0]["who"]["reference"] == f"Practitioner/{world['doctor']}"


async def test_meta_of_another_patients_resource_is_404_for_a_patient(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    anna = anna_writer(rsa, world)
    own = await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}/$meta", headers=anna)
    assert own.status_code == 200, own.text
    outcome(await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}/$meta", headers=anna), 404)
    outcome(await anyone.get(f"/fhir/CarePlan/{world['anna-internal-plan']}/$meta", headers=anna), 404)

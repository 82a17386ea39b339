"""After a merge the access policy treats both records as one person: the token of the old
record reaches the survivor's data, a clinician's care relation and a patient's consent move
with the contract, and who may merge is checked like any other write."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.sweden.identifiers import RESERVNUMMER_SYSTEM
from tests.security.callers import ADMIN
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, build_world, patient_token, user_token
from tests.support import builders
from tests.support.api import match_ids


@pytest.fixture
async def world(anyone: httpx.AsyncClient, rsa: SigningKey) -> World:
    """The access world, plus Anna's first registration with a reserve number at the
    emergency ward: her plan there, and her consent for the private clinic to read it."""
    world = await build_world(anyone, rsa)
    admin = bearer(mint(rsa, scope=ADMIN))

    async def add(name: str, resource: dict[str, Any]) -> None:
        response = await anyone.post(f"/fhir/{resource['resourceType']}", json=resource, headers=admin)
        assert response.status_code == 201, response.text
        world.ids[name] = response.json()["id"]

    await add(
        "unknown", dict(builders.patient(), identifier=[{"system": RESERVNUMMER_SYSTEM, "value": "98240301AA06"}])
    )
    await add(
        "unknown-plan",
        builders.care_plan(world["unknown"], author={"reference": f"PractitionerRole/{world['doctor-role']}"}),
    )
    await add("unknown-consent", builders.consent(world["unknown"], f"Organization/{world['outsider']}"))
    return world


async def _merged(anyone: httpx.AsyncClient, rsa: SigningKey, world: World) -> None:
    response = await anyone.post(
        "/fhir/Patient/$merge",
        json=builders.merge_parameters(world["unknown"], world["anna"]),
        headers=bearer(mint(rsa, scope=ADMIN)),
    )
    assert response.status_code == 200, response.text


async def test_the_old_records_token_reaches_the_person(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await _merged(anyone, rsa, world)
    own = patient_token(rsa, world, "unknown")
    for path in (
        f"CarePlan/{world['unknown-plan']}",
        f"CarePlan/{world['anna-plan']}",
        f"Patient/{world['anna']}",
        f"Patient/{world['unknown']}",
    ):
        assert (await anyone.get(f"/fhir/{path}", headers=own)).status_code == 200, path
    plans = match_ids((await anyone.get("/fhir/CarePlan", headers=own)).json())
    assert {world["unknown-plan"], world["anna-plan"]} <= set(plans)
    assert world["bertil-plan"] not in plans
    patients = match_ids((await anyone.get("/fhir/Patient", headers=own)).json())
    assert sorted(patients) == sorted([world["anna"], world["unknown"]])
    assert (await anyone.get(f"/fhir/CarePlan/{world['bertil-plan']}", headers=own)).status_code == 404
    # Anna's own token reaches what was filed under the reserve number too.
    anna = patient_token(rsa, world, "anna")
    assert (await anyone.get(f"/fhir/CarePlan/{world['unknown-plan']}", headers=anna)).status_code == 200
    overview = await anyone.get(f"/overview/{world['unknown']}", headers={**own, "Accept": "application/json"})
    assert overview.status_code == 200, overview.text


async def test_care_relations_and_consents_move_with_the_records(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await _merged(anyone, rsa, world)
    doctor = user_token(rsa, world, "doctor", "hospital")
    for path in (f"CarePlan/{world['unknown-plan']}", f"Patient/{world['unknown']}"):
        assert (await anyone.get(f"/fhir/{path}", headers=doctor)).status_code == 200, path
    # The consent given under the reserve number is the person's now: the clinic reads her plans.
    stranger = user_token(rsa, world, "stranger", "outsider")
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=stranger)).status_code == 200
    helper = user_token(rsa, world, "helper", "other-outsider")
    assert (await anyone.get(f"/fhir/CarePlan/{world['unknown-plan']}", headers=helper)).status_code == 403


async def test_who_may_merge(anyone: httpx.AsyncClient, world: World, rsa: SigningKey) -> None:
    body = builders.merge_parameters(world["unknown"], world["anna"])
    patient = await anyone.post("/fhir/Patient/$merge", json=body, headers=patient_token(rsa, world, "unknown"))
    assert patient.status_code == 403
    helper = user_token(rsa, world, "helper", "other-outsider")
    assert (await anyone.post("/fhir/Patient/$merge", json=body, headers=helper)).status_code == 404  # none of hers
    admin = bearer(mint(rsa, scope=ADMIN))
    unchanged = (await anyone.get(f"/fhir/Patient/{world['unknown']}", headers=admin)).json()
    assert unchanged["meta"]["versionId"] == "1"
    doctor = user_token(rsa, world, "doctor", "hospital")
    assert (await anyone.post("/fhir/Patient/$merge", json=body, headers=doctor)).status_code == 200

"""What the access policy keeps between requests (access/kept.py) never outlives the change
that makes it wrong: a block, a consent, a care team or an emergency grant written on one
instance applies at once on another sharing the database, and a consent whose period ends
stops opening the patient's data at that instant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.access.guarded import policy_on
from fhirbridge.access.kept import KeptFacts
from fhirbridge.config import Settings
from fhirbridge.identity import SYSTEM
from fhirbridge.rest.app import create_app
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.unit_of_work import UnitOfWork
from tests.conftest import BASE
from tests.security.callers import ADMIN
from tests.security.read_ahead import writes_after_the_read_ahead
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, user_token
from tests.support import builders


@pytest.fixture
async def other(secure_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A second instance of the service on the same database (as behind a load balancer)."""
    application: FastAPI = create_app(secure_settings)
    transport = httpx.ASGITransport(app=application)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url=BASE) as http,
    ):
        yield http


async def test_a_block_written_on_one_instance_applies_at_once_on_another(
    anyone: httpx.AsyncClient, other: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    admin = bearer(mint(rsa, scope=ADMIN))
    stranger = user_token(rsa, world, "stranger", "outsider")
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    consent = builders.consent(world["anna"], f"Organization/{world['outsider']}")
    assert (await anyone.post("/fhir/Consent", json=consent, headers=admin)).status_code == 201
    for _ in range(3):  # kept on the second instance
        assert (await other.get(plan, headers=stranger)).status_code == 200
    block = builders.consent(world["anna"], f"Organization/{world['hospital']}", provision="deny", role="CST")
    assert (await anyone.post("/fhir/Consent", json=block, headers=admin)).status_code == 201
    assert (await other.get(plan, headers=stranger)).status_code == 403


async def test_a_withdrawn_consent_and_a_new_care_relation_apply_at_once_on_another_instance(
    anyone: httpx.AsyncClient, other: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    admin = bearer(mint(rsa, scope=ADMIN))
    stranger = user_token(rsa, world, "stranger", "outsider")
    helper = user_token(rsa, world, "helper", "other-outsider")
    plan = f"/fhir/CarePlan/{world['bertil-plan']}"
    created = await anyone.post(
        "/fhir/Consent", json=builders.consent(world["bertil"], f"Organization/{world['outsider']}"), headers=admin
    )
    assert (await other.get(plan, headers=stranger)).status_code == 200
    assert (await other.get(plan, headers=helper)).status_code == 403
    withdrawn = dict(created.json(), status="inactive")
    assert (await anyone.put(f"/fhir/Consent/{withdrawn['id']}", json=withdrawn, headers=admin)).status_code == 200
    assert (await other.get(plan, headers=stranger)).status_code == 403
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['bertil']}"},
        "managingOrganization": [{"reference": f"Organization/{world['other-outsider']}"}],
    }
    assert (await anyone.post("/fhir/CareTeam", json=team, headers=admin)).status_code == 201
    assert (await other.get(plan, headers=helper)).status_code == 200


async def test_an_emergency_grant_opens_at_once_and_a_consent_closes_when_its_period_ends(
    anyone: httpx.AsyncClient, other: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    admin = bearer(mint(rsa, scope=ADMIN))
    helper = user_token(rsa, world, "helper", "other-outsider")
    plan = f"/fhir/CarePlan/{world['anna-plan']}"
    assert (await other.get(plan, headers=helper)).status_code == 403
    grant = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "reason", "valueString": "Medvetslös på akuten"},
            {"name": "minutes", "valueInteger": 5},
        ],
    }
    opened = await anyone.post(f"/fhir/Patient/{world['anna']}/$emergency-access", json=grant, headers=helper)
    assert opened.status_code in (200, 201), opened.text
    assert (await other.get(plan, headers=helper)).status_code == 200
    stranger = user_token(rsa, world, "stranger", "outsider")
    ends = (datetime.now(UTC) + timedelta(seconds=2)).isoformat(timespec="seconds")
    brief = builders.consent(world["anna"], f"Organization/{world['outsider']}")
    brief["provision"]["period"] = {"end": ends}
    assert (await anyone.post("/fhir/Consent", json=brief, headers=admin)).status_code == 201
    assert (await other.get(plan, headers=stranger)).status_code == 200
    await asyncio.sleep(3)
    assert (await other.get(plan, headers=stranger)).status_code == 403


async def test_a_role_moved_to_another_unit_moves_the_care_relation_at_once_on_another_instance(
    anyone: httpx.AsyncClient, other: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """The people and units behind a patient's care team are kept for every patient while the
    directory stands (access/kept.py ``KeptDirectory``): a directory write on one instance
    must reach the other's next judgement, in both directions."""
    admin = bearer(mint(rsa, scope=ADMIN))
    stranger = user_token(rsa, world, "stranger", "outsider")
    plan = f"/fhir/CarePlan/{world['bertil-plan']}"
    role_path = f"/fhir/PractitionerRole/{world['doctor-role']}"
    assert (await other.get(plan, headers=stranger)).status_code == 403
    role = (await anyone.get(role_path, headers=admin)).json()
    moved = dict(role, organization={"reference": f"Organization/{world['outsider']}"})
    assert (await anyone.put(role_path, json=moved, headers=admin)).status_code == 200
    goal = builders.goal(world["bertil"], "Bertil vill cykla igen")
    # A write borrows the directory the instance keeps for reads: it is the first to see the move here.
    assert (await other.post("/fhir/Goal", json=goal, headers=stranger)).status_code == 201
    assert (await other.get(plan, headers=stranger)).status_code == 200  # the care team's member now works there
    back = dict(role, organization={"reference": f"Organization/{world['hospital']}"})
    assert (await anyone.put(role_path, json=back, headers=admin)).status_code == 200
    assert (await other.post("/fhir/Goal", json=goal, headers=stranger)).status_code == 403
    assert (await other.get(plan, headers=stranger)).status_code == 403


async def test_what_a_write_keeps_for_its_checks_is_dropped_once_it_writes(app: FastAPI) -> None:
    """Inside a write the policy keeps a patient's facts between its checks (a new and a previous
    version, references, conditional matches), read on the write's own connection; once the
    write writes anything (a care team, a consent, a role), what was kept is read afresh, so
    a later entry of a transaction is judged on what the earlier ones wrote."""

    async def work(unit: UnitOfWork) -> None:
        first = policy_on(unit).kept
        assert first is not None and policy_on(unit).kept is first
        unit_resource = builders.organization("SE2321000198-E0000000999", "Ny mottagning")
        await unit.create(ValidatedResource("Organization", unit_resource, ()))
        assert policy_on(unit).kept is not first

    await app.state.context.repository.write(SYSTEM, None, work)


async def test_a_write_judges_a_care_relation_made_after_it_read_ahead(
    anyone: httpx.AsyncClient,
    other: httpx.AsyncClient,
    world: World,
    rsa: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write's checks borrow what the instance read about the patient just before the write
    (``AccessPolicy.prepare``) only while the patient's epochs, read in the write's own
    transaction, are the ones it was read at: a care team written by another instance between
    the two counts, and so does its end."""
    admin = bearer(mint(rsa, scope=ADMIN))
    helper = user_token(rsa, world, "helper", "other-outsider")
    goal = builders.goal(world["bertil"], "Bertil vill baka bröd")
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['bertil']}"},
        "managingOrganization": [{"reference": f"Organization/{world['other-outsider']}"}],
    }
    between = writes_after_the_read_ahead(monkeypatch)
    assert (await other.post("/fhir/Goal", json=goal, headers=helper)).status_code == 403
    created: list[dict[str, Any]] = []

    async def new_team() -> httpx.Response:
        response = await anyone.post("/fhir/CareTeam", json=team, headers=admin)
        created.append(response.json())
        return response

    between.append(new_team)
    assert (await other.post("/fhir/Goal", json=goal, headers=helper)).status_code == 201
    ended = dict(created[0], status="inactive")
    between.append(lambda: anyone.put(f"/fhir/CareTeam/{ended['id']}", json=ended, headers=admin))
    assert (await other.post("/fhir/Goal", json=goal, headers=helper)).status_code == 403


def test_a_write_adds_to_the_services_directory_only_at_the_epoch_the_service_read() -> None:
    """A write that sees a newer directory epoch than the service read may be seeing another
    write's change not yet committed (SQLite commits queued writes together): what it reads
    then is its own, never kept for other requests, which would trust it once the epoch is
    reached even if that change never committed."""
    service = KeptFacts()
    service.directory(5)["PractitionerRole/kept"] = {"resourceType": "PractitionerRole"}
    write = KeptFacts(directory_of=service)
    write.directory(6)["PractitionerRole/uncommitted"] = {"resourceType": "PractitionerRole"}
    kept = {"PractitionerRole/kept": {"resourceType": "PractitionerRole"}}
    assert service.directory(5) == kept  # still the service's epoch, and nothing of the write's
    assert write.directory(5) == kept  # borrowed at the service's own epoch

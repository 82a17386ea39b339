"""A region's service reading the change feed is judged with what is read about a page's patients
for the whole page at once (their epochs, Patients and consents: ``AccessPolicy._stand_ahead``),
and sees on every page exactly what it sees version by version (a ``vread`` judges each alone):
the plans a blocked unit wrote for a patient who blocked it stay out of a page of many patients,
whichever form the block names the patient in, and a block written between two readings of the
feed applies to the second at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from tests.conftest import BASE
from tests.security.callers import admin_post, service
from tests.security.test_change_feed_access import _feed
from tests.security.tokens import SigningKey
from tests.security.world import World, refer
from tests.support import builders

CONSENT_FORMS = ("literal", "absolute", "identifier", "identifier-and-reference", "versioned")
ANNAS = ("anna-plan", "anna-goal", "anna-team", "anna-internal-plan")


@pytest.fixture
async def fresh(secure_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A second instance on the same database: it judges each version from nothing the first
    one kept (what the first read ahead for a page is not what the second is checked against)."""
    application = create_app(secure_settings)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=BASE) as http,
    ):
        yield http


async def _block(anyone: httpx.AsyncClient, rsa: SigningKey, world: World, patient: str, form: str) -> None:
    """The patient's block of the hospital's information, naming the patient in ``form``."""
    block = builders.consent(world[patient], f"Organization/{world['hospital']}", provision="deny", role="CST")
    await admin_post(anyone, rsa, {**block, "patient": refer(form, world, patient)})


async def _more_patients(anyone: httpx.AsyncClient, rsa: SigningKey, world: World, count: int) -> None:
    """Patients with a plan by the hospital's doctor each, so that a page names many patients."""
    for number in range(count):
        patient = await admin_post(anyone, rsa, builders.patient(family=f"Sidan{number}"))
        plan = builders.care_plan(patient["id"], title=f"Plan {number}")
        await admin_post(anyone, rsa, {**plan, "author": {"reference": f"Practitioner/{world['doctor']}"}})


async def _seen_one_by_one(
    anyone: httpx.AsyncClient, headers: dict[str, str], entries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each version of the feed as a vread by the same caller shows it."""
    shown = []
    for entry in entries:
        version = entry["response"]["etag"].removeprefix('W/"').removesuffix('"')
        url = f"{entry['fullUrl']}/_history/{version}"
        answer = await anyone.get(url, headers=headers)
        assert answer.status_code == 200, (url, answer.text)
        shown.append(answer.json())
    return shown


def _plans_of(resources: list[dict[str, Any]], world: World, patient: str) -> list[str]:
    """The ids of the patient's CarePlans among ``resources``."""
    subject = f"Patient/{world[patient]}"
    return [r["id"] for r in resources if r.get("resourceType") == "CarePlan" and r["subject"]["reference"] == subject]


async def _hidden_from(fresh: httpx.AsyncClient, headers: dict[str, str], world: World) -> set[str]:
    """Which of Anna's resources a read by the caller does not show."""
    hidden = set()
    for name in ANNAS:
        kind = {"plan": "CarePlan", "goal": "Goal", "team": "CareTeam"}[name.rsplit("-", 1)[1]]
        if (await fresh.get(f"/fhir/{kind}/{world[name]}", headers=headers)).status_code != 200:
            hidden.add(world[name])
    return hidden


@pytest.mark.parametrize("form", CONSENT_FORMS)
async def test_a_service_sees_in_the_feed_what_it_sees_version_by_version(
    anyone: httpx.AsyncClient, fresh: httpx.AsyncClient, world: World, rsa: SigningKey, form: str
) -> None:
    await _more_patients(anyone, rsa, world, 4)
    await _block(anyone, rsa, world, "anna", form)
    reader = service(rsa)
    fed = [e for e in await _feed(anyone, "/fhir/_history", reader, count=100) if "resource" in e]
    resources = [e["resource"] for e in fed]
    assert len({r["id"] for r in resources if r["resourceType"] == "Patient"}) >= 6  # a page of many patients
    assert resources == await _seen_one_by_one(fresh, reader, fed)
    hidden = await _hidden_from(fresh, reader, world)
    assert {world["anna-plan"], world["anna-goal"]} <= hidden  # the hospital's information, blocked
    assert not hidden & {r["id"] for r in resources}
    assert _plans_of(resources, world, "bertil") == [world["bertil-plan"]]  # Bertil blocked no one


async def test_a_block_written_between_two_readings_of_the_feed_applies_to_the_second(
    anyone: httpx.AsyncClient, fresh: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    await _more_patients(anyone, rsa, world, 4)
    reader = service(rsa)
    before = [e["resource"] for e in await _feed(anyone, "/fhir/_history", reader, count=100) if "resource" in e]
    assert {world["anna-plan"], world["anna-goal"]} <= {r["id"] for r in before}  # no block yet
    await _block(anyone, rsa, world, "anna", "literal")
    fed = [e for e in await _feed(anyone, "/fhir/_history", reader, count=100) if "resource" in e]
    after = [e["resource"] for e in fed]
    assert after == await _seen_one_by_one(fresh, reader, fed)
    hidden = await _hidden_from(fresh, reader, world)
    assert {world["anna-plan"], world["anna-goal"]} <= hidden
    assert not hidden & {r["id"] for r in after}
    assert _plans_of(after, world, "bertil") == [world["bertil-plan"]]

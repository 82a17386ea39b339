"""FHIR's own limits, as a client meets them: strings of at most 1 MB (R4 datatypes.html#string,
counted in bytes of UTF-8), and ids (R4 datatypes.html#id) in references on create, update and
inside a transaction.  Every refusal names the element and writes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.validation.json_form import MAX_STRING_BYTES
from tests.conftest import BASE
from tests.support import builders
from tests.support.api import create, expressions, history, outcome


@pytest.fixture
async def patient(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create(client, builders.patient())


def plan_with_note(patient_id: str, text: str) -> dict[str, Any]:
    return builders.care_plan(patient_id, note=[{"text": text}])


def transaction(*resources: dict[str, Any]) -> dict[str, Any]:
    entries = [
        {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}} for resource in resources
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


# -- strings of at most 1 MB ----------------------------------------------------------------


async def test_a_string_of_exactly_one_megabyte_is_accepted(client: httpx.AsyncClient, patient: dict) -> None:
    text = "å" * (MAX_STRING_BYTES // 2)  # two bytes each in UTF-8
    await create(client, plan_with_note(patient["id"], text))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a" * (MAX_STRING_BYTES + 1), "one byte over"),
        ("å" * 600_000, "fewer than a million characters, but 1.2 MB of UTF-8"),
        ("Promenad varje dag. " * 55_000, "a realistic 1.1 MB note"),
    ],
)
async def test_a_string_over_one_megabyte_is_422_naming_it(
    client: httpx.AsyncClient, patient: dict, text: str, why: str
) -> None:
    before = await history(client, "_history")
    refused = outcome(await client.post("/fhir/CarePlan", json=plan_with_note(patient["id"], text)), 422)
    assert refused["issue"][0]["code"] == "too-long", why
    assert expressions(refused) == ["CarePlan.note[0].text"]
    assert await history(client, "_history") == before


async def test_every_kind_of_string_is_held_to_the_limit(client: httpx.AsyncClient, patient: dict) -> None:
    long = "x" * (MAX_STRING_BYTES + 1)
    plan = builders.care_plan(patient["id"], title=long, description=long)  # string, string
    plan["category"] = [{"coding": [{"system": "urn:oid:1.2.752.129.2.1.2.1", "code": long}]}]  # code
    refused = outcome(await client.post("/fhir/CarePlan", json=plan), 422)
    assert set(expressions(refused)) == {
        "CarePlan.title",
        "CarePlan.description",
        "CarePlan.category[0].coding[0].code",
    }


async def test_an_update_with_a_long_string_is_422_and_keeps_the_stored_version(
    client: httpx.AsyncClient, patient: dict
) -> None:
    plan = await create(client, builders.care_plan(patient["id"]))
    changed = dict(plan, description="ö" * MAX_STRING_BYTES)
    refused = outcome(await client.put(f"/fhir/CarePlan/{plan['id']}", json=changed), 422)
    assert expressions(refused) == ["CarePlan.description"]
    assert (await client.get(f"/fhir/CarePlan/{plan['id']}")).json() == plan


async def test_a_long_string_in_a_transaction_is_422_naming_the_entry(client: httpx.AsyncClient, patient: dict) -> None:
    bundle = transaction(builders.patient(), plan_with_note(patient["id"], "y" * (MAX_STRING_BYTES + 1)))
    before = await history(client, "_history")
    refused = outcome(await client.post("/fhir", json=bundle), 422)
    assert expressions(refused) == ["Bundle.entry[1].resource.note[0].text"]
    assert await history(client, "_history") == before


# -- ids in references ----------------------------------------------------------------------

BAD_IDS = {
    "white space": "has space",
    "a letter outside A-Z": "ä",
    "an underscore": "x_y",
    "65 characters": "x" * 65,
}


@pytest.mark.parametrize("bad_id", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_a_reference_to_an_id_no_resource_can_have_is_400_on_create(
    client: httpx.AsyncClient, bad_id: str
) -> None:
    for reference in (f"Patient/{bad_id}", f"Patient/{bad_id}/_history/1", f"{BASE}/fhir/Patient/{bad_id}"):
        plan = builders.care_plan("unused", subject={"reference": reference})
        refused = outcome(await client.post("/fhir/CarePlan", json=plan), 400)
        assert expressions(refused) == ["CarePlan.subject.reference"], reference
        assert "is not a FHIR id" in refused["issue"][0]["diagnostics"], reference
    assert await history(client, "_history") == []


@pytest.mark.parametrize("bad_id", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_a_reference_to_an_impossible_id_is_400_on_update(
    client: httpx.AsyncClient, patient: dict, bad_id: str
) -> None:
    plan = await create(client, builders.care_plan(patient["id"]))
    changed = dict(plan, careTeam=[{"reference": f"CareTeam/{bad_id}"}])
    refused = outcome(await client.put(f"/fhir/CarePlan/{plan['id']}", json=changed), 400)
    assert expressions(refused) == ["CarePlan.careTeam[0].reference"]
    assert (await client.get(f"/fhir/CarePlan/{plan['id']}")).json() == plan


async def test_a_version_that_is_no_id_is_400(client: httpx.AsyncClient, patient: dict) -> None:
    plan = builders.care_plan(patient["id"], subject={"reference": f"Patient/{patient['id']}/_history/1_0"})
    refused = outcome(await client.post("/fhir/CarePlan", json=plan), 400)
    assert expressions(refused) == ["CarePlan.subject.reference"]
    assert "the version '1_0'" in refused["issue"][0]["diagnostics"]


async def test_an_address_on_this_server_that_names_no_resource_is_400(client: httpx.AsyncClient) -> None:
    plan = builders.care_plan("unused", subject={"reference": f"{BASE}/fhir/metadata"})
    refused = outcome(await client.post("/fhir/CarePlan", json=plan), 400)
    assert expressions(refused) == ["CarePlan.subject.reference"]


async def test_a_url_on_another_server_is_not_ours_to_judge(client: httpx.AsyncClient, patient: dict) -> None:
    # R4 references.html: only a URL of the form [base]/[type]/[id] is a RESTful reference; this
    # one is not, so it is a plain URL of another system (which we cannot resolve either way).
    elsewhere = {"reference": "https://other.region.se/fhir/Practitioner/x_y"}
    await create(client, builders.care_plan(patient["id"], author=elsewhere))
    # Where it would name the patient, nobody here could tell whose data the plan is (issue 11).
    plan = builders.care_plan("unused", subject={"reference": "https://other.region.se/fhir/Patient/x_y"})
    assert expressions(outcome(await client.post("/fhir/CarePlan", json=plan), 422)) == ["CarePlan.subject.reference"]


@pytest.mark.parametrize("bad_id", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_a_reference_to_an_impossible_id_in_a_transaction_is_400_naming_the_entry(
    client: httpx.AsyncClient, patient: dict, bad_id: str
) -> None:
    goal = dict(builders.goal(patient["id"]), expressedBy={"reference": f"Patient/{bad_id}"})
    refused = outcome(await client.post("/fhir", json=transaction(builders.patient(), goal)), 400)
    assert expressions(refused) == ["Bundle.entry[1].resource.expressedBy.reference"]
    assert len(await history(client, "_history")) == 1  # the fixture's patient, nothing of the Bundle

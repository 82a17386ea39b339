"""One person, one Patient: a personnummer, samordningsnummer or reserve number that another
active Patient holds is a 409 naming that Patient, on create, update and in transactions, and
under twenty concurrent writers; If-None-Exist still finds the existing Patient."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from typing import Any

import httpx
import pytest

from fhirbridge.config import Settings
from fhirbridge.sweden.identifiers import (
    PERSONNUMMER_SYSTEM,
    RESERVNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
    make_personnummer,
)
from tests.support import builders
from tests.support.api import create, expressions, match_ids, outcome

REGIONAL = "urn:oid:1.2.752.97.3.1.3"
"""Region Stockholm's reserve numbers, declared as a reserve-number system in these tests."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"reserve_number_systems": [REGIONAL]})


def _person(system: str, value: str, **extra: Any) -> dict[str, Any]:
    return dict(builders.patient(), identifier=[{"system": system, "value": value}], **extra)


def _diagnostics(body: dict[str, Any]) -> str:
    return " ".join(issue["diagnostics"] for issue in body["issue"])


async def test_a_second_patient_with_the_same_personnummer_is_409_naming_the_holder(
    client: httpx.AsyncClient,
) -> None:
    number = builders.personnummer()
    first = await create(client, _person(PERSONNUMMER_SYSTEM, number))
    body = outcome(await client.post("/fhir/Patient", json=_person(PERSONNUMMER_SYSTEM, number)), 409)
    assert body["issue"][0]["code"] == "duplicate"
    assert f"Patient/{first['id']} already holds personnummer {number}" in _diagnostics(body)
    assert expressions(body) == ["Patient.identifier[0]"]
    search = await client.get("/fhir/Patient", params={"identifier": f"{PERSONNUMMER_SYSTEM}|{number}"})
    assert match_ids(search.json()) == [first["id"]]


async def test_an_update_that_takes_another_patients_number_is_409(client: httpx.AsyncClient) -> None:
    taken = make_personnummer(date(1970, 10, 3), 239, samordning=True)
    holder = await create(client, _person(SAMORDNINGSNUMMER_SYSTEM, taken))
    other = await create(client, builders.patient())
    other["identifier"].append({"system": SAMORDNINGSNUMMER_SYSTEM, "value": taken})
    body = outcome(await client.put(f"/fhir/Patient/{other['id']}", json=other), 409)
    assert f"Patient/{holder['id']} already holds samordningsnummer {taken}" in _diagnostics(body)
    assert expressions(body) == ["Patient.identifier[1]"]
    assert (await client.get(f"/fhir/Patient/{other['id']}")).json()["meta"]["versionId"] == "1"


async def test_if_none_exist_still_returns_the_existing_patient(client: httpx.AsyncClient) -> None:
    number = builders.personnummer()
    first = await create(client, _person(PERSONNUMMER_SYSTEM, number))
    header = {"If-None-Exist": f"identifier={PERSONNUMMER_SYSTEM}|{number}"}
    again = await client.post("/fhir/Patient", json=_person(PERSONNUMMER_SYSTEM, number), headers=header)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]


async def test_twenty_concurrent_creates_of_one_person_leave_one_patient(client: httpx.AsyncClient) -> None:
    number = builders.personnummer()
    body = _person(PERSONNUMMER_SYSTEM, number)
    responses = await asyncio.gather(*(client.post("/fhir/Patient", json=body) for _ in range(20)))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 19}
    winner = next(r.json()["id"] for r in responses if r.status_code == 201)
    for response in responses:
        if response.status_code == 409:
            assert f"Patient/{winner} already holds personnummer {number}" in _diagnostics(response.json())
    search = await client.get("/fhir/Patient", params={"identifier": f"{PERSONNUMMER_SYSTEM}|{number}"})
    assert match_ids(search.json()) == [winner]


async def test_reserve_numbers_are_unique_within_their_issuing_system(client: httpx.AsyncClient) -> None:
    value = "98240301AA06"
    national = await create(client, _person(RESERVNUMMER_SYSTEM, value))
    regional = await create(client, _person(REGIONAL, value))  # another system: another number
    for system, holder in ((RESERVNUMMER_SYSTEM, national), (REGIONAL, regional)):
        body = outcome(await client.post("/fhir/Patient", json=_person(system, value)), 409)
        assert f"Patient/{holder['id']} already holds" in _diagnostics(body)
    # A system nobody declared is an identifier like any other: it may be shared.
    for _ in range(2):
        await create(client, _person("urn:oid:1.2.752.129.2.1.2.1", "journal-4711"))


async def test_inactive_and_deleted_patients_hold_no_number(client: httpx.AsyncClient) -> None:
    number = builders.personnummer()
    old = await create(client, _person(PERSONNUMMER_SYSTEM, number, active=False))
    current = await create(client, _person(PERSONNUMMER_SYSTEM, number))
    body = outcome(await client.put(f"/fhir/Patient/{old['id']}", json=dict(old, active=True)), 409)
    assert f"Patient/{current['id']} already holds" in _diagnostics(body)
    assert (await client.delete(f"/fhir/Patient/{current['id']}")).status_code == 204
    assert (await client.put(f"/fhir/Patient/{old['id']}", json=dict(old, active=True))).status_code == 200


async def test_a_transaction_with_one_person_twice_is_409_naming_the_entry(client: httpx.AsyncClient) -> None:
    number = builders.personnummer()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": _person(PERSONNUMMER_SYSTEM, number), "request": {"method": "POST", "url": "Patient"}},
            {"resource": _person(PERSONNUMMER_SYSTEM, number), "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    body = outcome(await client.post("/fhir", json=bundle), 409)
    assert expressions(body)[0].startswith("Bundle.entry[")
    search = await client.get("/fhir/Patient", params={"identifier": f"{PERSONNUMMER_SYSTEM}|{number}"})
    assert match_ids(search.json()) == []


async def test_a_number_moves_between_patients_in_one_transaction(client: httpx.AsyncClient) -> None:
    """A mistyped personnummer corrected on one Patient and given to another, in either order."""
    number = builders.personnummer()
    wrong = await create(client, _person(PERSONNUMMER_SYSTEM, number))
    right = await create(client, builders.patient())
    corrected = dict(wrong, identifier=[{"system": PERSONNUMMER_SYSTEM, "value": builders.personnummer()}])
    right["identifier"] = [{"system": PERSONNUMMER_SYSTEM, "value": number}]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": right, "request": {"method": "PUT", "url": f"Patient/{right['id']}"}},
            {"resource": corrected, "request": {"method": "PUT", "url": f"Patient/{wrong['id']}"}},
        ],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    search = await client.get("/fhir/Patient", params={"identifier": f"{PERSONNUMMER_SYSTEM}|{number}"})
    assert match_ids(search.json()) == [right["id"]]

"""Swedish identifiers are checked on every write (issue 4; HL7 Sweden base profiles).

A wrong personnummer, samordningsnummer, national reserve number or HSA-id is a 422 whose
OperationOutcome names the identifier's ``value``; nothing is stored.  Valid ones, and
identifiers of other systems, are accepted.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.sweden.identifiers import (
    HSA_SYSTEM,
    PERSONNUMMER_SYSTEM,
    RESERVNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
)
from tests.support import builders
from tests.support.api import create, expressions, history, outcome


def _patient_with(system: str, value: str) -> dict[str, Any]:
    body = builders.patient()
    body["identifier"] = [{"system": system, "value": value}]
    return body


REJECTED_PATIENT_IDENTIFIERS = [
    ("wrong check digit", PERSONNUMMER_SYSTEM, "191212121213"),
    ("not a real date", PERSONNUMMER_SYSTEM, "191302301234"),
    ("ten digits", PERSONNUMMER_SYSTEM, "1212121212"),
    ("with a hyphen", PERSONNUMMER_SYSTEM, "19121212-1212"),
    ("a samordningsnummer in the personnummer system", PERSONNUMMER_SYSTEM, "197010632391"),
    ("a personnummer in the samordningsnummer system", SAMORDNINGSNUMMER_SYSTEM, "191212121212"),
    ("samordningsnummer with a wrong check digit", SAMORDNINGSNUMMER_SYSTEM, "197010632392"),
    ("reserve number with a hyphen", RESERVNUMMER_SYSTEM, "98240301-AA06"),
    ("reserve number in lower case", RESERVNUMMER_SYSTEM, "98240301aa06"),
]


@pytest.mark.parametrize(
    ("case", "system", "value"), REJECTED_PATIENT_IDENTIFIERS, ids=[c[0] for c in REJECTED_PATIENT_IDENTIFIERS]
)
async def test_a_wrong_person_identifier_is_422_naming_it_and_nothing_is_stored(
    client: httpx.AsyncClient, case: str, system: str, value: str
) -> None:
    rejected = outcome(await client.post("/fhir/Patient", json=_patient_with(system, value)), 422)
    assert expressions(rejected) == ["Patient.identifier[0].value"]
    assert value in rejected["issue"][0]["diagnostics"]
    assert await history(client, "_history") == []
    search = (await client.get("/fhir/Patient", params={"identifier": f"{system}|{value}"})).json()
    assert search["total"] == 0


@pytest.mark.parametrize(
    ("system", "value"),
    [
        (PERSONNUMMER_SYSTEM, "191212121212"),
        (PERSONNUMMER_SYSTEM, "194802292393"),  # born on a leap day
        (SAMORDNINGSNUMMER_SYSTEM, "197010632391"),
        (RESERVNUMMER_SYSTEM, "98240301AA06"),
        ("urn:oid:1.2.752.97.3.1.3", "99-1234"),  # a regional reserve number: not ours to judge
    ],
)
async def test_valid_person_identifiers_are_accepted(client: httpx.AsyncClient, system: str, value: str) -> None:
    stored = await create(client, _patient_with(system, value))
    assert stored["identifier"] == [{"system": system, "value": value}]


async def test_a_wrong_hsa_id_is_422_naming_it(client: httpx.AsyncClient) -> None:
    rejected = outcome(await client.post("/fhir/Practitioner", json=builders.practitioner(hsa="2321000198-P0KL1")), 422)
    assert expressions(rejected) == ["Practitioner.identifier[0].value"]
    assert await history(client, "Practitioner/_history") == []


async def test_hsa_ids_with_ten_and_twelve_digit_organisation_numbers_are_accepted(client: httpx.AsyncClient) -> None:
    await create(client, builders.practitioner(hsa="SE2321000016-15CQ"))
    await create(client, builders.organization(hsa="SE165565594230-1000"))


async def test_an_identifier_inside_a_reference_is_checked(client: httpx.AsyncClient) -> None:
    body = builders.care_plan(
        "x", subject={"identifier": {"system": PERSONNUMMER_SYSTEM, "value": "191212121213"}, "display": "Tolvan"}
    )
    rejected = outcome(await client.post("/fhir/CarePlan", json=body), 422)
    assert expressions(rejected) == ["CarePlan.subject.identifier.value"]


async def test_every_wrong_identifier_is_reported_at_once(client: httpx.AsyncClient) -> None:
    body = builders.patient()
    body["identifier"] = [
        {"system": PERSONNUMMER_SYSTEM, "value": "191212121213"},
        {"system": "urn:oid:1.2.3.4", "value": "whatever"},
        {"system": SAMORDNINGSNUMMER_SYSTEM, "value": "197010992391"},
    ]
    body["generalPractitioner"] = [{"identifier": {"system": HSA_SYSTEM, "value": "SE-fel"}}]
    rejected = outcome(await client.post("/fhir/Patient", json=body), 422)
    assert expressions(rejected) == [
        "Patient.identifier[0].value",
        "Patient.identifier[2].value",
        "Patient.generalPractitioner[0].identifier.value",
    ]


async def test_an_update_with_a_wrong_identifier_keeps_the_stored_version(client: httpx.AsyncClient) -> None:
    stored = await create(client, builders.patient())
    body = dict(stored, identifier=[{"system": PERSONNUMMER_SYSTEM, "value": "191212121213"}])
    outcome(await client.put(f"/fhir/Patient/{stored['id']}", json=body), 422)
    assert (await client.get(f"/fhir/Patient/{stored['id']}")).json() == stored


async def test_a_transaction_with_a_wrong_identifier_persists_nothing(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": builders.practitioner(), "request": {"method": "POST", "url": "Practitioner"}},
            {
                "resource": _patient_with(PERSONNUMMER_SYSTEM, "191212121213"),
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 422, response.text
    assert any("191212121213" in issue["diagnostics"] for issue in response.json()["issue"])
    assert await history(client, "_history") == []


@pytest.mark.parametrize("value", ["１９１２１２１２１２１２", "191212121212\n", "١٩١٢١٢١٢١٢١٢"])
async def test_look_alike_digits_are_refused(client: httpx.AsyncClient, value: str) -> None:
    outcome(await client.post("/fhir/Patient", json=_patient_with(PERSONNUMMER_SYSTEM, value)), 422)

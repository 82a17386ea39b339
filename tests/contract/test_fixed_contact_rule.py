"""One active fixed care contact and one fixed doctor per patient, across all care teams (seed 001).

A second one is a 409 whose OperationOutcome names the current holder; ending the current
assignment (``participant.period.end``) makes room; the limit is a deployment policy; and the
rule holds when many clients appoint at the same moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES
from fhirbridge.rest.app import create_app
from fhirbridge.writes.events import WriteEvent
from fhirbridge.writes.unit_of_work import UnitOfWork
from tests.support import builders
from tests.support.api import BASE, create, expressions, history, outcome


def _member(practitioner: dict[str, Any], role: str, **period: str) -> dict[str, Any]:
    """A participant holding ``role``; ``start`` and ``end`` make its period."""
    participant: dict[str, Any] = {
        "role": [{"coding": [{"system": CARE_ROLE_SYSTEM, "code": role, "display": CARE_ROLES[role]}]}],
        "member": {"reference": f"Practitioner/{practitioner['id']}", "display": practitioner["name"][0]["given"][0]},
    }
    if period:
        participant["period"] = period
    return participant


def _team(patient: dict[str, Any], *participants: dict[str, Any], status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": status,
        "subject": {"reference": f"Patient/{patient['id']}"},
        "participant": list(participants),
    }


@pytest.fixture
async def people(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {
        "patient": await create(client, builders.patient()),
        "anna": await create(client, builders.practitioner("SE2321000198-ANNA1", "Berg", "Anna")),
        "bo": await create(client, builders.practitioner("SE2321000198-BO001", "Ek", "Bo")),
        "cilla": await create(client, builders.practitioner("SE2321000198-CIL01", "Ås", "Cilla")),
    }


async def test_a_second_fixed_care_contact_is_409_naming_the_current_one(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient, anna, bo = people["patient"], people["anna"], people["bo"]
    hospital = await create(client, _team(patient, _member(anna, "fast-vardkontakt", start="2026-01-10")))
    primary_care = _team(patient, _member(people["cilla"], "underskoterska"), _member(bo, "fast-vardkontakt"))
    rejected = outcome(await client.post("/fhir/CareTeam", json=primary_care), 409)
    message = rejected["issue"][0]["diagnostics"]
    assert "Anna" in message and f"CareTeam/{hospital['id']}" in message and "2026-01-10" in message
    assert expressions(rejected) == ["CareTeam.participant[1]"]
    assert len(await history(client, "CareTeam/_history")) == 1


async def test_the_same_person_may_be_the_fixed_care_contact_in_several_teams(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient, anna = people["patient"], people["anna"]
    await create(client, _team(patient, _member(anna, "fast-vardkontakt")))
    await create(client, _team(patient, _member(anna, "fast-vardkontakt")))


async def test_two_fixed_care_contacts_in_one_team_are_refused(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    body = _team(
        people["patient"], _member(people["anna"], "fast-vardkontakt"), _member(people["bo"], "fast-vardkontakt")
    )
    outcome(await client.post("/fhir/CareTeam", json=body), 409)


async def test_ending_the_assignment_makes_room_for_a_new_fixed_care_contact(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient, anna, bo = people["patient"], people["anna"], people["bo"]
    team = await create(client, _team(patient, _member(anna, "fast-vardkontakt", start="2025-02-01")))
    team["participant"][0]["period"]["end"] = "2026-01-31"
    team["note"] = [{"text": "Fast vårdkontakt avslutad i samförstånd med patienten: flyttat till annan kommun."}]
    assert (await client.put(f"/fhir/CareTeam/{team['id']}", json=team)).status_code == 200
    await create(client, _team(patient, _member(bo, "fast-vardkontakt", start="2026-02-01")))


async def test_an_inactive_team_holds_no_fixed_care_contact(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient = people["patient"]
    await create(client, _team(patient, _member(people["anna"], "fast-vardkontakt"), status="inactive"))
    await create(client, _team(patient, _member(people["bo"], "fast-vardkontakt")))


async def test_fixed_doctor_and_fixed_care_contact_are_separate_roles(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient = people["patient"]
    await create(client, _team(patient, _member(people["anna"], "fast-vardkontakt")))
    await create(client, _team(patient, _member(people["bo"], "fast-lakarkontakt")))
    rejected = outcome(
        await client.post("/fhir/CareTeam", json=_team(patient, _member(people["cilla"], "fast-lakarkontakt"))), 409
    )
    assert "fast läkarkontakt" in rejected["issue"][0]["diagnostics"] and "Bo" in rejected["issue"][0]["diagnostics"]


async def test_other_patients_are_not_affected(client: httpx.AsyncClient, people: dict[str, dict[str, Any]]) -> None:
    other = await create(client, builders.patient())
    await create(client, _team(people["patient"], _member(people["anna"], "fast-vardkontakt")))
    await create(client, _team(other, _member(people["bo"], "fast-vardkontakt")))


async def test_a_transaction_appointing_two_fixed_care_contacts_persists_nothing(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient = people["patient"]
    entries = [
        {
            "resource": _team(patient, _member(people[name], "fast-vardkontakt")),
            "request": {"method": "POST", "url": "CareTeam"},
        }
        for name in ("anna", "bo")
    ]
    response = await client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert response.status_code == 409, response.text
    assert await history(client, "CareTeam/_history") == []


class AllAtOnce:
    """A write listener that runs before the rule and holds each transaction until all
    ``parties`` have written their CareTeam, so that every rule check overlaps every other
    uncommitted write.  SQLite runs one writer at a time, so there it holds nothing."""

    def __init__(self, parties: int) -> None:
        self.barrier = asyncio.Barrier(parties)

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        if unit.conn.dialect.name == "postgresql":
            await asyncio.wait_for(self.barrier.wait(), timeout=10)


async def test_concurrent_appointments_leave_exactly_one_fixed_care_contact(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient = people["patient"]
    candidates = [
        await create(client, builders.practitioner(f"SE2321000198-K{n:04d}", "Kandidat", f"K{n}")) for n in range(8)
    ]
    repository = app.state.context.repository
    repository.listeners = (AllAtOnce(len(candidates)), *repository.listeners)
    responses = await asyncio.gather(
        *(
            client.post("/fhir/CareTeam", json=_team(patient, _member(candidate, "fast-vardkontakt")))
            for candidate in candidates
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    teams = (await client.get("/fhir/CareTeam", params={"subject": f"Patient/{patient['id']}"})).json()
    assert teams["total"] == 1


@pytest.fixture
async def lenient_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A deployment that allows two fixed care contacts (seed 002: stroke unit and primary care)."""
    lenient = settings.model_copy(update={"fixed_care_contacts_per_patient": 2})
    application: FastAPI = create_app(lenient)
    transport = httpx.ASGITransport(app=application)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url=BASE) as http,
    ):
        yield http


async def test_the_limit_is_a_deployment_policy(lenient_client: httpx.AsyncClient) -> None:
    client = lenient_client
    patient = await create(client, builders.patient())
    staff = [
        await create(client, builders.practitioner(f"SE2321000198-L{n:04d}", "Lind", f"Person{n}")) for n in range(3)
    ]
    await create(client, _team(patient, _member(staff[0], "fast-vardkontakt")))
    await create(client, _team(patient, _member(staff[1], "fast-vardkontakt")))
    rejected = outcome(
        await client.post("/fhir/CareTeam", json=_team(patient, _member(staff[2], "fast-vardkontakt"))), 409
    )
    assert "allows 2" in rejected["issue"][0]["diagnostics"]


async def test_a_handover_on_consecutive_days_or_the_same_day_is_allowed(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient, anna, bo, cilla = people["patient"], people["anna"], people["bo"], people["cilla"]
    await create(client, _team(patient, _member(anna, "fast-vardkontakt", start="2026-01-01", end="2099-06-30")))
    await create(client, _team(patient, _member(bo, "fast-vardkontakt", start="2099-07-01", end="2099-12-31")))
    await create(client, _team(patient, _member(cilla, "fast-vardkontakt", start="2099-12-31")))  # handover day


async def test_overlapping_future_assignments_conflict(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient = people["patient"]
    await create(client, _team(patient, _member(people["anna"], "fast-vardkontakt", start="2099-01-01")))
    body = _team(patient, _member(people["bo"], "fast-vardkontakt", start="2099-06-01"))
    outcome(await client.post("/fhir/CareTeam", json=body), 409)


async def test_the_same_person_by_another_reference_is_not_a_second_contact(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient, anna = people["patient"], people["anna"]
    unit = await create(client, builders.organization())
    role = await create(client, builders.practitioner_role(anna["id"], unit["id"]))
    await create(client, _team(patient, _member(anna, "fast-vardkontakt")))
    as_role = _team(patient, _member(anna, "fast-vardkontakt"))
    as_role["participant"][0]["member"] = {"reference": f"PractitionerRole/{role['id']}"}
    await create(client, as_role)
    versioned = _team(patient, _member(anna, "fast-vardkontakt"))
    versioned["participant"][0]["member"] = {"reference": f"Practitioner/{anna['id']}/_history/1"}
    await create(client, versioned)


async def test_an_absolute_subject_is_the_same_patient(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient = people["patient"]
    await create(client, _team(patient, _member(people["anna"], "fast-vardkontakt")))
    body = _team(patient, _member(people["bo"], "fast-vardkontakt"))
    body["subject"] = {"reference": f"{BASE}/fhir/Patient/{patient['id']}"}
    outcome(await client.post("/fhir/CareTeam", json=body), 409)


async def test_contained_members_are_not_tracked_across_teams(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient = people["patient"]
    for family in ("Ek", "Ås"):
        team = _team(patient)
        team["contained"] = [{"resourceType": "Practitioner", "id": "p1", "name": [{"family": family}]}]
        team["participant"] = [
            {
                "role": [{"coding": [{"system": CARE_ROLE_SYSTEM, "code": "fast-vardkontakt"}]}],
                "member": {"reference": "#p1"},
            }
        ]
        await create(client, team)


async def test_a_leap_second_in_a_period_is_not_a_server_error(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    body = _team(people["patient"], _member(people["anna"], "fast-vardkontakt", end="2016-12-31T23:59:60Z"))
    await create(client, body)


async def test_in_a_transaction_the_conflict_names_the_entry(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient = people["patient"]
    await create(client, _team(patient, _member(people["anna"], "fast-vardkontakt")))
    entries = [
        {"resource": builders.practitioner("SE2321000198-X0001"), "request": {"method": "POST", "url": "Practitioner"}},
        {
            "resource": _team(patient, _member(people["bo"], "fast-vardkontakt")),
            "request": {"method": "POST", "url": "CareTeam"},
        },
    ]
    response = await client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert response.status_code == 409
    assert expressions(response.json()) == ["Bundle.entry[1].resource.participant[0]"]


END_REASON = "https://fhirbridge.se/fhir/StructureDefinition/assignment-end-reason"
OFFER_DECLINED = "https://fhirbridge.se/fhir/StructureDefinition/offer-declined"
CONTRACT_TEAM = "https://fhirbridge.se/fhir/StructureDefinition/contract-careteam"


async def test_a_declined_offer_is_recorded_and_holds_no_role(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    patient = people["patient"]
    offer = _member(people["anna"], "fast-vardkontakt", start="2026-03-01", end="2026-03-01")
    offer["extension"] = [{"url": OFFER_DECLINED, "valueDateTime": "2026-03-01"}]
    team = await create(client, _team(patient, offer))
    assert team["participant"][0]["extension"][0]["url"] == OFFER_DECLINED
    await create(client, _team(patient, _member(people["bo"], "fast-vardkontakt")))
    contacts = (await client.get(f"/fhir/Patient/{patient['id']}/$fixed-contacts")).json()
    assert [p["name"] for p in contacts["parameter"]] == ["fixedCareContact"]


async def test_a_profiled_team_records_why_an_assignment_ended(
    client: httpx.AsyncClient, people: dict[str, dict[str, Any]]
) -> None:
    body = _team(people["patient"], _member(people["anna"], "fast-vardkontakt", start="2025-01-01"))
    body["meta"] = {"profile": [CONTRACT_TEAM]}
    team = await create(client, body)
    team["participant"][0]["period"]["end"] = "2026-01-31"
    rejected = outcome(await client.put(f"/fhir/CareTeam/{team['id']}", json=team), 422)
    assert "contract-ended-assignment-has-reason" in rejected["issue"][0]["diagnostics"]
    assert expressions(rejected)[0].startswith("CareTeam.participant[0]")
    team["participant"][0]["extension"] = [
        {
            "url": END_REASON,
            "valueCodeableConcept": {
                "coding": [{"system": "https://fhirbridge.se/fhir/CodeSystem/assignment-end-reason", "code": "flytt"}],
                "text": "Patienten har flyttat till Sandviken",
            },
        }
    ]
    assert (await client.put(f"/fhir/CareTeam/{team['id']}", json=team)).status_code == 200

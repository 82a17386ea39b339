"""A small world of contracts that search tests query: two patients, their care teams,
goals and contracts, clinicians with HSA-ids, and a Provenance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fhirbridge.sweden.identifiers import HSA_SYSTEM, PERSONNUMMER_SYSTEM
from tests.support import builders
from tests.support.contracts import contract_activities

CONTRACT = {"system": "https://fhirbridge.se/fhir/CodeSystem/plan-type", "code": "patientkontrakt"}
SIP = {"system": "https://fhirbridge.se/fhir/CodeSystem/plan-type", "code": "sip"}


@dataclass
class World:
    ids: dict[str, str]
    numbers: dict[str, str]


async def _create(client: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    ids: dict[str, str] = {}
    numbers = {"anna": builders.personnummer(), "bertil": builders.personnummer()}
    ids["anna"] = await _create(client, builders.patient(numbers["anna"], family="Åberg", given="Anna"))
    ids["bertil"] = await _create(client, builders.patient(numbers["bertil"], family="Berg", given="Bertil"))
    ids["karin"] = await _create(client, builders.practitioner("SE2321000198-P0KL1", "Lind", "Karin"))
    ids["johan"] = await _create(client, builders.practitioner("SE2321000198-P0JB4", "Berg", "Johan"))
    for who, nurse in (("anna", "karin"), ("bertil", "johan")):
        ids[f"team-{who}"] = await _create(
            client,
            {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": f"Patient/{ids[who]}"},
                "participant": [{"member": {"reference": f"Practitioner/{ids[nurse]}"}}],
            },
        )
        ids[f"goal-{who}"] = await _create(client, builders.goal(ids[who]))
        ids[f"contract-{who}"] = await _create(
            client,
            builders.care_plan(
                ids[who],
                category=[{"coding": [CONTRACT]}],
                careTeam=[{"reference": f"CareTeam/{ids[f'team-{who}']}"}],
                goal=[{"reference": f"Goal/{ids[f'goal-{who}']}"}],
                period={"start": "2026-01-01" if who == "anna" else "2026-06-01"},
                author={"reference": f"Practitioner/{ids[nurse]}"},
                activity=contract_activities(f"Patient/{ids[who]}", f"Practitioner/{ids[nurse]}"),
            ),
        )
    ids["sip-anna"] = await _create(client, builders.care_plan(ids["anna"], category=[{"coding": [SIP]}], title="SIP"))
    ids["provenance"] = await _create(
        client,
        {
            "resourceType": "Provenance",
            "target": [{"reference": f"CarePlan/{ids['contract-anna']}"}],
            "recorded": "2026-01-01T10:00:00+01:00",
            "agent": [{"who": {"reference": f"Practitioner/{ids['karin']}"}}],
        },
    )
    return World(ids, numbers)


def entry_ids(bundle: dict[str, Any], mode: str = "match") -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    }


PNR = PERSONNUMMER_SYSTEM
HSA = HSA_SYSTEM

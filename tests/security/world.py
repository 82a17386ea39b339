"""Two patients, two care units and the people around them, written by the region's
integration (a system token acting for no unit), for the access tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import BASE
from tests.security.tokens import SigningKey, bearer, mint
from tests.support import builders

NOT_FOR_PATIENT = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "NOPATIENT"}
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"


@dataclass
class World:
    ids: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.ids[name]


REFERENCE_FORMS = ("literal", "absolute", "identifier", "identifier-and-reference", "versioned", "transaction")
"""How the world's resources name their patient (issue 11): every form the write path accepts."""


def refer(form: str, world: World, patient: str) -> dict[str, Any]:
    """A reference to one of the world's patients in one of :data:`REFERENCE_FORMS`."""
    literal = f"Patient/{world[patient]}"
    identifier = {"system": PERSONNUMMER, "value": world.numbers[patient]}
    return {
        "literal": {"reference": literal},
        "absolute": {"reference": f"{BASE}/fhir/{literal}"},
        "identifier": {"identifier": identifier, "display": patient.title()},
        "identifier-and-reference": {"reference": literal, "identifier": identifier},
        "versioned": {"reference": f"{literal}/_history/1"},
    }[form]


def _team(world: World, names: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": names,
        "managingOrganization": [{"reference": f"Organization/{world['hospital']}"}],
        "participant": [{"member": {"reference": f"PractitionerRole/{world['doctor-role']}"}}],
    }


async def _patient_by_transaction(client: httpx.AsyncClient, admin: dict[str, str], world: World, patient: str) -> None:
    """The patient, team, goal, plan and relative in one transaction, tied by ``urn:uuid``."""
    urns = {part: f"urn:uuid:{uuid.uuid4()}" for part in ("patient", "team", "goal", "plan", "relative")}
    names = {"reference": urns["patient"]}
    person = builders.patient()
    resources = {
        "patient": person,
        "team": _team(world, names),
        "goal": dict(builders.goal("x", f"{patient} vill gå till affären"), subject=names, expressedBy=names),
        "plan": builders.care_plan(
            "x",
            subject=names,
            author={"reference": f"PractitionerRole/{world['doctor-role']}"},
            goal=[{"reference": urns["goal"]}],
        ),
        "relative": dict(builders.related_person("x"), patient=names),
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": urns[part],
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
            for part, resource in resources.items()
        ],
    }
    response = await client.post("/fhir", json=bundle, headers=admin)
    assert response.status_code == 200, response.text
    for part, entry in zip(resources, response.json()["entry"], strict=True):
        address = entry["response"]["location"].split("/_history")[0]
        world.ids[patient if part == "patient" else f"{patient}-{part}"] = address.split("/")[1]
    world.numbers[patient] = next(i["value"] for i in person["identifier"] if i["system"] == PERSONNUMMER)


async def build_world(client: httpx.AsyncClient, key: SigningKey, form: str = "literal") -> World:
    """The world, its patients' resources naming them in ``form`` (see :data:`REFERENCE_FORMS`)."""
    admin = bearer(mint(key, scope="system/*.cruds", client_id="region-integration"))
    world = World()

    async def add(name: str, resource: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=admin)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        world.ids[name] = created["id"]
        return created

    region = await add("region", builders.organization("SE2321000198-E0000000100", "Region Test"))
    await add(
        "hospital",
        dict(
            builders.organization("SE2321000198-E0000000101", "Medicinkliniken"),
            partOf={"reference": f"Organization/{region['id']}"},
        ),
    )
    await add("outsider", builders.organization("SE2321000198-E0000000202", "Privat vårdcentral"))
    await add("other-outsider", builders.organization("SE2321000198-E0000000303", "Annan mottagning"))
    for person, unit in (("doctor", "hospital"), ("stranger", "outsider"), ("helper", "other-outsider")):
        await add(person, builders.practitioner(f"SE2321000198-P{len(world.ids):04d}", "Lind", person))
        await add(f"{person}-role", builders.practitioner_role(world[person], world[unit]))
    for patient in ("anna", "bertil"):
        if form == "transaction":
            await _patient_by_transaction(client, admin, world, patient)
            continue
        created = await add(patient, builders.patient())
        world.numbers[patient] = next(i["value"] for i in created["identifier"] if i["system"] == PERSONNUMMER)
        names = refer(form, world, patient)
        await add(f"{patient}-team", _team(world, names))
        await add(
            f"{patient}-goal", dict(builders.goal(world[patient], f"{patient} vill gå till affären"), subject=names)
        )
        await add(
            f"{patient}-plan",
            builders.care_plan(
                world[patient],
                subject=names,
                author={"reference": f"PractitionerRole/{world['doctor-role']}"},
                goal=[{"reference": f"Goal/{world[f'{patient}-goal']}"}],
            ),
        )
        await add(f"{patient}-relative", dict(builders.related_person(world[patient]), patient=names))
    await add(
        "anna-internal-plan",
        builders.care_plan(
            world["anna"],
            subject=refer("literal" if form == "transaction" else form, world, "anna"),
            title="Intern planering",
            author={"reference": f"PractitionerRole/{world['doctor-role']}"},
            meta={"security": [NOT_FOR_PATIENT]},
        ),
    )
    return world


def patient_token(key: SigningKey, world: World, patient: str, scope: str = "patient/*.rs") -> dict[str, str]:
    return bearer(mint(key, scope=scope, fhirUser=f"Patient/{world[patient]}", patient=world[patient]))


def user_token(key: SigningKey, world: World, person: str, unit: str, scope: str = "user/*.cruds") -> dict[str, str]:
    return bearer(
        mint(key, scope=scope, fhirUser=f"Practitioner/{world[person]}", organization=f"Organization/{world[unit]}")
    )

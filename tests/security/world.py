"""Two patients, two care units and the people around them, written by the region's
integration (a system token acting for no unit), for the access tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

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


async def build_world(client: httpx.AsyncClient, key: SigningKey) -> World:
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
        created = await add(patient, builders.patient())
        world.numbers[patient] = next(i["value"] for i in created["identifier"] if i["system"] == PERSONNUMMER)
        await add(
            f"{patient}-team",
            {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": f"Patient/{world[patient]}"},
                "managingOrganization": [{"reference": f"Organization/{world['hospital']}"}],
                "participant": [{"member": {"reference": f"PractitionerRole/{world['doctor-role']}"}}],
            },
        )
        await add(f"{patient}-goal", builders.goal(world[patient], f"{patient} vill gå till affären"))
        await add(
            f"{patient}-plan",
            builders.care_plan(
                world[patient],
                author={"reference": f"PractitionerRole/{world['doctor-role']}"},
                goal=[{"reference": f"Goal/{world[f'{patient}-goal']}"}],
            ),
        )
        await add(f"{patient}-relative", builders.related_person(world[patient]))
    await add(
        "anna-internal-plan",
        builders.care_plan(
            world["anna"],
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

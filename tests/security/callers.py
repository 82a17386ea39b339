"""The callers and the writes the security reviews share: tokens of each kind of caller
(the region's integration, a unit's system, Anna, the stranger at the outsider unit, the
hospital's doctor, a relative, another service), the region's writes that set the scene (a
block, the outsider's care team) and what a search page returned."""

from __future__ import annotations

from typing import Any

import httpx

from fhirbridge.contract.codes import GOAL_KIND_SYSTEM, GOAL_KINDS, PATIENT_MESSAGE_SYSTEM, PATIENT_MESSAGES, concept
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, patient_token, user_token
from tests.support import builders
from tests.support.contracts import contract, fixed_contact_team

ADMIN = "system/*.cruds"


def admin(key: SigningKey) -> dict[str, str]:
    return bearer(mint(key, scope=ADMIN, client_id="region-integration"))


def unit_system(key: SigningKey, world: World, unit: str = "outsider", scope: str = ADMIN) -> dict[str, str]:
    """A system token (client credentials) acting for a care unit: the Patient Data Act applies to it."""
    return bearer(mint(key, scope=scope, client_id=f"{unit}-system", organization=f"Organization/{world[unit]}"))


def anna_writer(key: SigningKey, world: World) -> dict[str, str]:
    return patient_token(key, world, "anna", scope="patient/*.cruds")


def stranger(key: SigningKey, world: World) -> dict[str, str]:
    return user_token(key, world, "stranger", "outsider")


def doctor(key: SigningKey, world: World) -> dict[str, str]:
    return user_token(key, world, "doctor", "hospital")


def relative(key: SigningKey, world: World, patient: str = "anna") -> dict[str, str]:
    return bearer(
        mint(
            key,
            scope="patient/*.rs",
            fhirUser=f"RelatedPerson/{world[f'{patient}-relative']}",
            patient=world[patient],
        )
    )


def service(key: SigningKey, client_id: str = "npo-platform") -> dict[str, str]:
    """Another service (a system token acting for no unit): scopes and blocks apply to it."""
    return bearer(mint(key, scope="system/*.cruds", client_id=client_id))


async def admin_post(client: httpx.AsyncClient, key: SigningKey, resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=admin(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


async def block_hospital(anyone: httpx.AsyncClient, key: SigningKey, world: World, patient: str = "anna") -> None:
    await admin_post(
        anyone, key, builders.consent(world[patient], f"Organization/{world['hospital']}", provision="deny", role="CST")
    )


async def outsider_team(
    anyone: httpx.AsyncClient, key: SigningKey, world: World, patient: str = "anna", **extra: Any
) -> dict[str, Any]:
    """A care team for the patient managed by the outsider unit (the outsider's care relation),
    written by the region."""
    return await admin_post(
        anyone,
        key,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{world[patient]}"},
            "managingOrganization": [{"reference": f"Organization/{world['outsider']}"}],
            **extra,
        },
    )


def returned(answer: httpx.Response) -> list[str]:
    """The resources a search page returned (matches and includes), as ``Type/id``."""
    if answer.status_code != 200 or not answer.headers.get("content-type", "").startswith("application/fhir+json"):
        return []
    return [
        f"{e['resource']['resourceType']}/{e['resource'].get('id')}"
        for e in answer.json().get("entry", [])
        if "resource" in e
    ]


async def outsiders_plan(
    anyone: httpx.AsyncClient,
    rsa: SigningKey,
    world: World,
    *,
    with_hospital_team: bool = True,
    block: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A plan of the outsider unit's (its own care relation), in which the hospital's doctor
    performs an activity and (``with_hospital_team``) the hospital's care team takes part; then
    (``block``) Anna blocks the hospital."""
    team = await outsider_team(anyone, rsa, world)
    plan = await admin_post(
        anyone,
        rsa,
        builders.care_plan(
            world["anna"],
            title="Vårdcentralens plan",
            author={"reference": f"PractitionerRole/{world['stranger-role']}"},
            careTeam=[{"reference": f"CareTeam/{team['id']}"}]
            + ([{"reference": f"CareTeam/{world['anna-team']}"}] if with_hospital_team else []),
            activity=[
                {
                    "detail": {
                        "status": "scheduled",
                        "description": "Hjärtkontroll",
                        "performer": [{"reference": f"PractitionerRole/{world['doctor-role']}"}],
                    }
                }
            ],
            **extra,
        ),
    )
    if block:
        await block_hospital(anyone, rsa, world)
    return plan


def proposal(patient: str, plan: str, kind: str = "forslag-vad-ar-viktigt", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "status": "in-progress",
        "category": [concept(PATIENT_MESSAGE_SYSTEM, PATIENT_MESSAGES, kind)],
        "subject": {"reference": f"Patient/{patient}"},
        "about": [{"reference": f"CarePlan/{plan}"}],
        "payload": [{"contentString": "Jag vill kunna gå till kyrkan på söndagar"}],
        **extra,
    }


def relative_writer(key: SigningKey, world: World) -> dict[str, str]:
    return bearer(
        mint(
            key,
            scope="patient/*.cruds",
            fhirUser=f"RelatedPerson/{world['anna-relative']}",
            patient=world["anna"],
        )
    )


async def annas_contract(
    anyone: httpx.AsyncClient, key: SigningKey, world: World, fixed_contact: str = "doctor-role", unit: str = "hospital"
) -> dict[str, Any]:
    """Anna's contract, authored by the hospital's doctor, with the role ``fixed_contact`` as her
    fixed care contact in a care team managed by ``unit``, and what matters to her as her own
    goal: the contract, its team and goal, written by the region."""
    team = dict(fixed_contact_team(world["anna"], world[fixed_contact]))
    team["managingOrganization"] = [{"reference": f"Organization/{world[unit]}"}]
    team = await admin_post(anyone, key, team)
    goal = await admin_post(
        anyone,
        key,
        dict(
            builders.goal(world["anna"], "Att kunna gå till affären själv"),
            category=[concept(GOAL_KIND_SYSTEM, GOAL_KINDS, "vad-ar-viktigt")],
        ),
    )
    plan = await admin_post(
        anyone, key, contract(world["anna"], team["id"], goal["id"], f"PractitionerRole/{world['doctor-role']}")
    )
    return {"team": team, "goal": goal, "plan": plan}


async def hospital_staff_answers(anyone: httpx.AsyncClient, key: SigningKey, world: World) -> dict[str, Any]:
    """The hospital doctor's answers to the seven questions about the hospital (a unit's record)."""
    answer = await anyone.post(
        "/fhir/QuestionnaireResponse",
        json=builders.seven_answers(
            f"Organization/{world['hospital']}", world["hospital"], author=f"PractitionerRole/{world['doctor-role']}"
        ),
        headers=doctor(key, world),
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created

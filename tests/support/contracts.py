"""Complete patient contracts for tests: every part the contract profile requires (issue 4)."""

from __future__ import annotations

from typing import Any

import httpx

from fhirbridge.contract.codes import (
    ACTIVITY_KIND_SYSTEM,
    ACTIVITY_KINDS,
    CARE_ROLE_SYSTEM,
    CARE_ROLES,
    GOAL_KIND_SYSTEM,
    GOAL_KINDS,
    PLAN_TYPE_SYSTEM,
    PLAN_TYPES,
    concept,
)
from tests.support import builders
from tests.support.api import create


def _activity(kind: str, text: str, performer: str, **detail: Any) -> dict[str, Any]:
    return {
        "detail": {
            "code": concept(ACTIVITY_KIND_SYSTEM, ACTIVITY_KINDS, kind),
            "status": "scheduled" if kind == "nasta-kontakt" else "in-progress",
            "performer": [{"reference": performer}],
            "description": text,
            **detail,
        }
    }


def contract_activities(patient: str, author: str) -> list[dict[str, Any]]:
    """The patient's own part, care's part, whom to contact and the agreed next contact."""
    return [
        _activity("egen-insats", "Promenad 20 minuter varje dag", patient),
        _activity("vardens-insats", "Distriktssköterskan följer upp blodtrycket", author),
        _activity("kontaktvag", "Ring vårdcentralen vardagar 8-16", author),
        _activity(
            "nasta-kontakt",
            "Återbesök hos distriktssköterskan",
            author,
            scheduledPeriod={"start": "2027-01-12T09:00:00+01:00", "end": "2027-01-12T09:30:00+01:00"},
        ),
    ]


def contract(patient_id: str, care_team_id: str, goal_id: str, author: str, **extra: Any) -> dict[str, Any]:
    """A contract CarePlan with every required part: what matters (the goal), the patient's own
    part, care's part, whom to contact, the agreed next contact, the author and a period."""
    patient = f"Patient/{patient_id}"
    body: dict[str, Any] = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "category": [concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, "patientkontrakt")],
        "title": "Patientkontrakt för Tolvan",
        "subject": {"reference": patient},
        "period": {"start": "2026-11-01"},
        "author": {"reference": author},
        "careTeam": [{"reference": f"CareTeam/{care_team_id}"}],
        "goal": [{"reference": f"Goal/{goal_id}"}],
        "activity": contract_activities(patient, author),
    }
    body.update(extra)
    return body


def fixed_contact_team(patient_id: str, role_id: str, display: str | None = None) -> dict[str, Any]:
    """A CareTeam whose one participant, the PractitionerRole, is the patient's fixed care contact."""
    member: dict[str, Any] = {"reference": f"PractitionerRole/{role_id}"}
    if display:
        member["display"] = display
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": [{"role": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, "fast-vardkontakt")], "member": member}],
    }


async def contract_world(client: httpx.AsyncClient) -> dict[str, Any]:
    """A unit, Karin Lind's role there, a patient, a care team with Karin as fixed care contact,
    and the patient's own goal: everything a contract refers to."""
    unit = await create(client, builders.organization())
    karin = await create(client, builders.practitioner())
    role = await create(client, builders.practitioner_role(karin["id"], unit["id"]))
    patient = await create(client, builders.patient())
    team = await create(client, fixed_contact_team(patient["id"], role["id"], "Karin Lind"))
    goal = await create(
        client,
        dict(
            builders.goal(patient["id"]),
            category=[concept(GOAL_KIND_SYSTEM, GOAL_KINDS, "vad-ar-viktigt")],
            expressedBy={"reference": f"Patient/{patient['id']}"},
        ),
    )
    return {
        "unit": unit,
        "karin": karin,
        "role": role,
        "patient": patient,
        "team": team,
        "goal": goal,
        "contract": contract(patient["id"], team["id"], goal["id"], f"PractitionerRole/{role['id']}"),
    }

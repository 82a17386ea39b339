"""A contract conversation's answers as a draft contract (issue 13.3; SDC's ``$extract``, R4).

Pure: from a stored QuestionnaireResponse to ``Questionnaire/contract-conversation`` (seed 001's
question battery) to a transaction Bundle that a clinician reviews, completes and posts:

* a **CarePlan** of the contract profile, ``draft`` and ``plan``, in the patientkontrakt
  category, for the response's subject, from the day of the conversation, with the patient's
  own part (``own-part``) as an activity of kind ``egen-insats`` performed by the patient;
* **Goals** of the contract-goal profile, both expressed by the patient: what matters
  (``what-matters``, kind ``vad-ar-viktigt``) and the shared goal (``shared-goal.description``,
  kind ``gemensamt-mal``) with its ``ambition-level``;
* when the patient wants help to coordinate (``wants-coordination``), a **CareTeam** proposal
  (``proposed``) whose fixed care contact (``fast-vardkontakt``) is the proposed person at the
  proposed unit (or the unit itself, when no person was proposed).

Entries are ``POST``s tied together by ``urn:uuid`` fullUrls.  What the conversation cannot
know is left for the clinician: the author, care's part, whom to contact and the agreed next
contact (the contract profile requires them), and, without a proposal, the patient's care team.
An ``in-progress`` response drafts what it holds.
"""

from __future__ import annotations

import uuid
from typing import Any

from fhirbridge.conformance.validator import CARE_TEAM_PROFILE, CONTRACT_PROFILE, GOAL_PROFILE
from fhirbridge.contract.codes import (
    ACTIVITY_KIND_SYSTEM,
    ACTIVITY_KINDS,
    AMBITION_LEVEL_EXTENSION,
    AMBITION_LEVEL_SYSTEM,
    AMBITION_LEVELS,
    CANONICAL_BASE,
    CARE_ROLE_SYSTEM,
    CARE_ROLES,
    GOAL_KIND_SYSTEM,
    GOAL_KINDS,
    PLAN_TYPE_SYSTEM,
    PLAN_TYPES,
    concept,
)
from fhirbridge.errors import Issue

CONVERSATION = f"{CANONICAL_BASE}/Questionnaire/contract-conversation"
TITLE = "Patientkontrakt"


def not_a_conversation(response: dict[str, Any]) -> Issue | None:
    """The issue of a response that ``$extract`` cannot draft a contract from, else None."""
    canonical = str(response.get("questionnaire") or "").split("|", 1)[0]
    if canonical != CONVERSATION:
        return Issue(
            "error",
            "not-supported",
            f"$extract drafts a contract from answers to {CONVERSATION}, not to {canonical or 'no questionnaire'}",
            ("QuestionnaireResponse.questionnaire",),
        )
    subject = str((response.get("subject") or {}).get("reference") or "")
    if not subject.startswith("Patient/"):
        return Issue(
            "error", "required", "The response's subject is the patient (Patient/…)", ("QuestionnaireResponse.subject",)
        )
    return None


def draft_contract(response: dict[str, Any]) -> dict[str, Any]:
    """The transaction Bundle of the draft contract (call :func:`not_a_conversation` first)."""
    answers = _answers(response.get("item"))
    patient = {"reference": str(response["subject"]["reference"])}
    entries: list[dict[str, Any]] = []
    goals = [_goal(patient, "vad-ar-viktigt", text, None) for text in _strings(answers, "what-matters")]
    ambition = next(iter(answers.get("shared-goal.ambition", [])), None)
    goals += [
        _goal(patient, "gemensamt-mal", text, ambition.get("valueCoding") if ambition else None)
        for text in _strings(answers, "shared-goal.description")
    ]
    entries += [_entry(goal) for goal in goals]
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "meta": {"profile": [CONTRACT_PROFILE]},
        "status": "draft",
        "intent": "plan",
        "category": [concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, "patientkontrakt")],
        "title": TITLE,
        "subject": patient,
    }
    authored = response.get("authored")
    if isinstance(authored, str):
        plan["period"] = {"start": authored[:10]}
    team = _care_team(patient, answers) if _yes(answers, "wants-coordination") else None
    if team is not None:
        entries.append(_entry(team))
        plan["careTeam"] = [{"reference": entries[-1]["fullUrl"]}]
    if goals:
        plan["goal"] = [{"reference": entry["fullUrl"]} for entry in entries[: len(goals)]]
    activities = [_own_part(patient, text) for text in _strings(answers, "own-part")]
    if activities:
        plan["activity"] = activities
    entries.append(_entry(plan))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def _goal(patient: dict[str, str], kind: str, text: str, ambition: Any) -> dict[str, Any]:
    goal: dict[str, Any] = {
        "resourceType": "Goal",
        "meta": {"profile": [GOAL_PROFILE]},
        "lifecycleStatus": "proposed",
        "category": [concept(GOAL_KIND_SYSTEM, GOAL_KINDS, kind)],
        "description": {"text": text},
        "subject": dict(patient),
        "expressedBy": dict(patient),
    }
    code = ambition.get("code") if isinstance(ambition, dict) else None
    if ambition is not None and code in AMBITION_LEVELS:
        goal["extension"] = [
            {
                "url": AMBITION_LEVEL_EXTENSION,
                "valueCodeableConcept": concept(AMBITION_LEVEL_SYSTEM, AMBITION_LEVELS, code),
            }
        ]
    return goal


def _care_team(patient: dict[str, str], answers: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    # a response stored before answers were checked may hold anything: only references count
    unit = _reference(answers, "fixed-contact-proposal.unit")
    person = _reference(answers, "fixed-contact-proposal.person")
    member = person if person is not None else unit
    if not isinstance(member, dict):
        return None
    participant: dict[str, Any] = {
        "role": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, "fast-vardkontakt")],
        "member": dict(member),
    }
    if person is not None and unit is not None:
        participant["onBehalfOf"] = dict(unit)
    return {
        "resourceType": "CareTeam",
        "meta": {"profile": [CARE_TEAM_PROFILE]},
        "status": "proposed",
        "name": "Förslag: fast vårdkontakt",
        "subject": dict(patient),
        "participant": [participant],
    }


def _own_part(patient: dict[str, str], text: str) -> dict[str, Any]:
    return {
        "detail": {
            "code": concept(ACTIVITY_KIND_SYSTEM, ACTIVITY_KINDS, "egen-insats"),
            "status": "not-started",
            "description": text,
            "performer": [dict(patient)],
        }
    }


def _answers(items: Any) -> dict[str, list[dict[str, Any]]]:
    """Every answer by its item's linkId, nested ones included (linkIds are unique, que-2)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for item in items if isinstance(items, list) else []:
        found.setdefault(str(item.get("linkId")), []).extend(item.get("answer", []))
        for key, values in _answers(item.get("item")).items():
            found.setdefault(key, []).extend(values)
        for answer in item.get("answer", []):
            for key, values in _answers(answer.get("item")).items():
                found.setdefault(key, []).extend(values)
    return found


def _strings(answers: dict[str, list[dict[str, Any]]], link_id: str) -> list[str]:
    return [str(a["valueString"]) for a in answers.get(link_id, []) if str(a.get("valueString") or "").strip()]


def _reference(answers: dict[str, list[dict[str, Any]]], link_id: str) -> dict[str, Any] | None:
    return next(
        (a["valueReference"] for a in answers.get(link_id, []) if isinstance(a.get("valueReference"), dict)), None
    )


def _yes(answers: dict[str, list[dict[str, Any]]], link_id: str) -> bool:
    return any(a.get("valueBoolean") is True for a in answers.get(link_id, []))

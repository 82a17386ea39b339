"""Whom a patient turns to: the fixed care contact, the fixed doctor and the treating roles.

Seed 003 asks that the patient and every caregiver can see who the fixed care contact is,
with phone number and how to reach them.  This module reads the patient's CareTeams and the
PractitionerRoles, Practitioners and Organizations they point at, and lists every active
participant with a care role (:data:`CARE_ROLE_SYSTEM`): name, role, unit, phone numbers and
hours.  Relatives (``narstaende``) are not care contacts and are left out.

Pure: the caller fetches the resources; :func:`as_parameters` renders the answer of
``Patient/{id}/$fixed-contacts`` as a FHIR Parameters resource (R4 parameters.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.contract.codes import CARE_ROLE_SYSTEM, CARE_ROLES
from fhirbridge.contract.fixed_contacts import (
    FIXED_CARE_CONTACT,
    FIXED_DOCTOR,
    INACTIVE_TEAM_STATUSES,
    declined,
    has_ended,
)
from fhirbridge.contract.people import display_name, person_of
from fhirbridge.search.dates import first_instant

RELATIVE = "narstaende"
KIND_OF_ROLE = {FIXED_CARE_CONTACT: "fixedCareContact", FIXED_DOCTOR: "fixedDoctor"}
TREATING = "treatingRole"
KIND_ORDER = ("fixedCareContact", "fixedDoctor", TREATING)

Resources = Mapping[str, dict[str, Any]]
"""Resources by their local reference (``PractitionerRole/role-1``)."""


@dataclass(frozen=True)
class CareContact:
    kind: str
    role: dict[str, str]
    name: str
    member: dict[str, Any]
    care_team: str
    unit: dict[str, Any] | None = None
    phones: tuple[str, ...] = ()
    hours: tuple[str, ...] = field(default=())
    since: str | None = None


def care_contacts(teams: list[dict[str, Any]], resolved: Resources, now_us: int) -> list[CareContact]:
    """Every active care-role participant of the live, active ``teams``, fixed roles first."""
    found = []
    for team in teams:
        if team.get("status") in INACTIVE_TEAM_STATUSES:
            continue
        for participant in team.get("participant", []):
            period = participant.get("period") or {}
            begins = first_instant(period.get("start"))
            if has_ended(period, now_us) or (begins is not None and begins > now_us) or declined(participant):
                continue
            for coding in _care_roles(participant):
                found.append(_contact(team, participant, coding, resolved, period.get("start")))
    return sorted(found, key=lambda contact: KIND_ORDER.index(contact.kind))


def _care_roles(participant: dict[str, Any]) -> list[dict[str, str]]:
    return [
        coding
        for concept in participant.get("role", [])
        for coding in concept.get("coding", [])
        if coding.get("system") == CARE_ROLE_SYSTEM and coding.get("code") in CARE_ROLES and coding["code"] != RELATIVE
    ]


def _contact(
    team: dict[str, Any],
    participant: dict[str, Any],
    coding: dict[str, str],
    resolved: Resources,
    since: str | None,
) -> CareContact:
    code = coding["code"]
    member = participant.get("member") or {}
    member_resource = resolved.get(str(member.get("reference")))
    person = person_of(member_resource, resolved)
    unit = _unit(participant, member_resource, resolved)
    phones = _phones(member_resource) or _phones(person)
    if not phones and code == FIXED_CARE_CONTACT:
        phones = _phones(team)  # the team's number reaches the fixed care contact (seed 001)
    return CareContact(
        kind=KIND_OF_ROLE.get(code, TREATING),
        role={"system": CARE_ROLE_SYSTEM, "code": code, "display": CARE_ROLES[code]},
        name=display_name(person) or member.get("display") or "(namn saknas)",
        member={key: member[key] for key in ("reference", "identifier", "display") if key in member},
        care_team=f"CareTeam/{team['id']}",
        unit=unit,
        phones=phones,
        hours=_hours(member_resource),
        since=since,
    )


def _unit(participant: dict[str, Any], member: dict[str, Any] | None, resolved: Resources) -> dict[str, Any] | None:
    reference = participant.get("onBehalfOf") or (member or {}).get("organization")
    if not reference:
        return None
    organization = resolved.get(str(reference.get("reference")))
    unit = {key: reference[key] for key in ("reference", "display") if key in reference}
    if organization is not None and organization.get("name"):
        unit["display"] = organization["name"]
    return unit


def _phones(resource: dict[str, Any] | None) -> tuple[str, ...]:
    if resource is None:
        return ()
    return tuple(
        str(point["value"])
        for point in resource.get("telecom", [])
        if point.get("system") == "phone" and point.get("value")
    )


def _hours(member: dict[str, Any] | None) -> tuple[str, ...]:
    """``mon tue wed thu fri 08:00-16:00`` for each PractitionerRole.availableTime."""
    if member is None:
        return ()
    hours = []
    for available in member.get("availableTime", []):
        days = " ".join(available.get("daysOfWeek", []))
        if available.get("allDay"):
            hours.append(f"{days} all day".strip())
            continue
        start, end = available.get("availableStartTime", ""), available.get("availableEndTime", "")
        hours.append(f"{days} {start[:5]}-{end[:5]}".strip())
    return tuple(hours)


def as_parameters(contacts: list[CareContact]) -> dict[str, Any]:
    """The operation's answer: one parameter per contact, named by its kind, with parts."""
    parameters = []
    for contact in contacts:
        parts: list[dict[str, Any]] = [
            {"name": "role", "valueCoding": contact.role},
            {"name": "name", "valueString": contact.name},
            {"name": "member", "valueReference": contact.member},
            {"name": "careTeam", "valueReference": {"reference": contact.care_team}},
        ]
        if contact.unit:
            parts.append({"name": "unit", "valueReference": contact.unit})
        parts += [{"name": "phone", "valueString": phone} for phone in contact.phones]
        parts += [{"name": "availableTime", "valueString": hours} for hours in contact.hours]
        if contact.since:
            parts.append({"name": "since", "valueString": contact.since})
        parameters.append({"name": contact.kind, "part": parts})
    # FHIR JSON has no empty arrays: a patient without contacts gets a Parameters without parameter.
    return {"resourceType": "Parameters", "parameter": parameters} if parameters else {"resourceType": "Parameters"}

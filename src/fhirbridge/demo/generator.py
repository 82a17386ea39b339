"""Demo contracts: for each patient a Patient, a relative, goals in their own words, a care
team with a fixed care contact and a fixed doctor, the contract itself (a CarePlan with the
patient's part, self-care, care's part, when to seek care, whom to contact and the agreed
next time), the booked Appointment (a video visit for the COPD scenario: the contact-channel
``video`` on the agreed next contact and in the Appointment's ``appointmentType``) and a linked
SIP when the municipality is involved.  The contract is loaded with its history
(:func:`contract_history`): agreed months ago by the fixed care contact's unit and revised since
by the hospital, primary care or the municipality, each version dated and with a Provenance of
its own.

Ids are fixed (``demo-…``), so loading twice updates instead of duplicating.  Times are
relative to ``today`` so that the next contact is always ahead.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fhirbridge.contract.codes import (
    ACTIVITY_KIND_SYSTEM,
    ACTIVITY_KINDS,
    CANONICAL_BASE,
    CARE_ROLE_SYSTEM,
    CARE_ROLES,
    CONTACT_CHANNEL_SYSTEM,
    CONTACT_CHANNELS,
    GOAL_KIND_SYSTEM,
    GOAL_KINDS,
    PLAN_TYPE_SYSTEM,
    PLAN_TYPES,
    coding,
    concept,
)
from fhirbridge.demo import follow_up, messages
from fhirbridge.demo.catalogue import (
    CLINICIANS,
    FAMILY,
    GIVEN_FEMALE,
    GIVEN_MALE,
    SCENARIOS,
    STREETS,
    UNITS,
    Clinician,
    Scenario,
)
from fhirbridge.fhir.instants import parse_instant
from fhirbridge.loading import SourcedResource, Version
from fhirbridge.sweden.identifiers import (
    HSA_SYSTEM,
    ORGANISATION_NUMBER_SYSTEM,
    PERSONNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
    gender_of,
    hsa_id,
    make_personnummer,
)

Resource = dict[str, Any]
STOCKHOLM = ZoneInfo("Europe/Stockholm")
CONTRACT_IDENTIFIER_SYSTEM = f"{CANONICAL_BASE}/identifier/patientkontrakt"
CONTACT_CHANNEL_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/contact-channel"
PROFILE_PATIENT = f"{CANONICAL_BASE}/StructureDefinition/se-patient"
PROFILE_GOAL = f"{CANONICAL_BASE}/StructureDefinition/contract-goal"
PROFILE_CARE_TEAM = f"{CANONICAL_BASE}/StructureDefinition/contract-careteam"
PROFILE_CONTRACT = f"{CANONICAL_BASE}/StructureDefinition/contract-careplan"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_UNITS = {unit.key: unit for unit in UNITS}
_CLINICIANS = {clinician.key: clinician for clinician in CLINICIANS}


def _ref(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, str]:
    reference = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        reference["display"] = display
    return reference


def _instant(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), STOCKHOLM).isoformat()


def _narrative(paragraphs: list[str]) -> dict[str, str]:
    body = "".join(f"<p>{p.replace('&', '&amp;').replace('<', '&lt;')}</p>" for p in paragraphs)
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def organisations() -> list[Resource]:
    out = []
    for unit in UNITS:
        resource: Resource = {
            "resourceType": "Organization",
            "id": f"org-{unit.key}",
            "identifier": [
                {"system": HSA_SYSTEM, "value": hsa_id(unit.org_number, unit.hsa_local)},
                {"system": ORGANISATION_NUMBER_SYSTEM, "value": unit.org_number},
            ],
            "active": True,
            "name": unit.name,
            "telecom": [{"system": "phone", "value": unit.phone, "use": "work"}],
            "address": [{"city": unit.city, "country": "SE"}],
        }
        if unit.part_of:
            resource["partOf"] = _ref("Organization", f"org-{unit.part_of}", _UNITS[unit.part_of].name)
        out.append(resource)
    return out


def clinicians() -> list[Resource]:
    out: list[Resource] = []
    for person in CLINICIANS:
        unit = _UNITS[person.unit]
        out.append(
            {
                "resourceType": "Practitioner",
                "id": f"prac-{person.key}",
                "identifier": [{"system": HSA_SYSTEM, "value": hsa_id(unit.org_number, person.hsa_local)}],
                "active": True,
                "name": [{"family": person.family, "given": [person.given], "text": f"{person.given} {person.family}"}],
                "telecom": [{"system": "phone", "value": person.phone, "use": "work"}],
                "qualification": [{"code": {"text": person.title}}],
            }
        )
    for person in CLINICIANS:
        unit = _UNITS[person.unit]
        out.append(
            {
                "resourceType": "PractitionerRole",
                "id": f"role-{person.key}",
                "identifier": [{"system": HSA_SYSTEM, "value": hsa_id(unit.org_number, person.hsa_local + "R")}],
                "active": True,
                "practitioner": _ref("Practitioner", f"prac-{person.key}", f"{person.given} {person.family}"),
                "organization": _ref("Organization", f"org-{unit.key}", unit.name),
                "code": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, person.role)],
                "telecom": [{"system": "phone", "value": person.phone, "use": "work"}],
                "availableTime": [
                    {
                        "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                        "availableStartTime": "08:00:00",
                        "availableEndTime": "16:00:00",
                    }
                ],
            }
        )
    return out


def _role_ref(person: Clinician) -> dict[str, str]:
    return _ref("PractitionerRole", f"role-{person.key}", f"{person.given} {person.family}, {CARE_ROLES[person.role]}")


def patient_contract(index: int, today: date, rng: random.Random, taken: set[str] | None = None) -> list[Resource]:
    """Everything one demo patient's contract consists of, in an order that loads cleanly.

    ``taken`` holds the numbers earlier patients got: one person, one Patient, so a number that
    is taken gives way to the next serial of the same sex (without drawing from ``rng``, so the
    patients before stay as they were)."""
    scenario: Scenario = SCENARIOS[index % len(SCENARIOS)]
    female = rng.random() < 0.55
    birth = date(rng.randint(1932, 1962), rng.randint(1, 12), rng.randint(1, 28))
    samordning = index % 17 == 16
    serial = rng.randrange(0, 1000) // 2 * 2 + (0 if female else 1)
    number = make_personnummer(birth, serial, samordning=samordning)
    while taken is not None and number in taken:
        serial = (serial + 2) % 1000
        number = make_personnummer(birth, serial, samordning=samordning)
    if taken is not None:
        taken.add(number)
    given = rng.choice(GIVEN_FEMALE if female else GIVEN_MALE)
    family = rng.choice(FAMILY)
    name = f"{given} {family}"
    suffix = f"{index:05d}"
    pid = f"demo-patient-{suffix}"
    fixed = _CLINICIANS[scenario.fixed_contact]
    doctor = _CLINICIANS[scenario.fixed_doctor]
    treating = [_CLINICIANS[key] for key in scenario.treating]
    start = today - timedelta(days=rng.randint(20, 300))
    next_day = today + timedelta(days=rng.randint(3, 45))
    while next_day.weekday() >= 5:
        next_day += timedelta(days=1)
    next_hour = rng.choice((8, 9, 10, 13, 14, 15))
    patient_ref = _ref("Patient", pid, name)

    patient: Resource = {
        "resourceType": "Patient",
        "meta": {"profile": [PROFILE_PATIENT]},
        "id": pid,
        "identifier": [{"system": SAMORDNINGSNUMMER_SYSTEM if samordning else PERSONNUMMER_SYSTEM, "value": number}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given], "text": name}],
        "telecom": [
            {
                "system": "phone",
                "value": f"070-{rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
                "use": "mobile",
            }
        ],
        "gender": gender_of(number),
        "birthDate": birth.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [f"{rng.choice(STREETS)} {rng.randint(1, 60)}"],
                "postalCode": f"80{rng.randint(100, 999)}",
                "city": "Gävle",
                "country": "SE",
            }
        ],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "sv", "display": "svenska"}]},
                "preferred": True,
            }
        ],
        "generalPractitioner": [_role_ref(doctor)],
        "managingOrganization": _ref("Organization", f"org-{doctor.unit}", _UNITS[doctor.unit].name),
    }
    relative_given = rng.choice(GIVEN_FEMALE + GIVEN_MALE)
    relative: Resource = {
        "resourceType": "RelatedPerson",
        "id": f"demo-relative-{suffix}",
        "active": True,
        "patient": patient_ref,
        "relationship": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "CHILD", "display": "child"}
                ],
                "text": "Barn",
            }
        ],
        "name": [{"family": family, "given": [relative_given], "text": f"{relative_given} {family}"}],
        "telecom": [
            {
                "system": "phone",
                "value": f"073-{rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
                "use": "mobile",
            }
        ],
    }
    goals: list[Resource] = []
    for number_in_plan, (kind, text) in enumerate(
        (("vad-ar-viktigt", scenario.what_matters), ("gemensamt-mal", scenario.shared_goal)), 1
    ):
        goal: Resource = {
            "resourceType": "Goal",
            "meta": {"profile": [PROFILE_GOAL]},
            "id": f"demo-goal-{suffix}-{number_in_plan}",
            "lifecycleStatus": "active",
            "achievementStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                        "code": "in-progress",
                        "display": "In Progress",
                    }
                ],
                "text": "På väg",
            },
            "category": [concept(GOAL_KIND_SYSTEM, GOAL_KINDS, kind)],
            "description": {"text": text},
            "subject": patient_ref,
            "startDate": start.isoformat(),
            "expressedBy": patient_ref if kind == "vad-ar-viktigt" else _role_ref(fixed),
        }
        if kind == "gemensamt-mal":
            goal["target"] = [{"dueDate": (start + timedelta(days=365)).isoformat()}]
        goals.append(goal)

    members = [
        (fixed, "fast-vardkontakt"),
        (doctor, "fast-lakarkontakt"),
        *[(person, person.role) for person in treating],
    ]
    participants = [
        {
            "role": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, role)],
            # The unit is the role's organization: R4 ctm-1 allows onBehalfOf only for a Practitioner member.
            "member": _role_ref(person),
            "period": {"start": start.isoformat()},
        }
        for person, role in members
    ]
    participants.append(
        {
            "role": [concept(CARE_ROLE_SYSTEM, CARE_ROLES, "narstaende")],
            "member": _ref("RelatedPerson", relative["id"], f"{relative_given} {family}"),
            "period": {"start": start.isoformat()},
        }
    )
    care_team: Resource = {
        "resourceType": "CareTeam",
        "meta": {"profile": [PROFILE_CARE_TEAM]},
        "id": f"demo-careteam-{suffix}",
        "status": "active",
        "name": f"Vårdteam för {name}",
        "subject": patient_ref,
        "period": {"start": start.isoformat()},
        "participant": participants,
        "managingOrganization": [_ref("Organization", f"org-{fixed.unit}", _UNITS[fixed.unit].name)],
        "telecom": [{"system": "phone", "value": fixed.phone, "use": "work"}],
    }

    linked: list[Resource] = []
    if scenario.sip_holder:
        holder = _UNITS[scenario.sip_holder]
        linked.append(
            {
                "resourceType": "CarePlan",
                "id": f"demo-sip-{suffix}",
                "identifier": [{"system": f"{CANONICAL_BASE}/identifier/sip", "value": f"SIP-{today.year}-{suffix}"}],
                "status": "active",
                "intent": "plan",
                "category": [concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, "sip")],
                "title": f"SIP för {name}",
                "description": "Samordnad individuell plan mellan regionen och kommunen: "
                "hemsjukvård, hemtjänst och hjälpmedel.",
                "subject": patient_ref,
                "period": {"start": (start - timedelta(days=30)).isoformat()},
                "created": (start - timedelta(days=30)).isoformat(),
                "author": _ref("Organization", f"org-{holder.key}", holder.name),
                "contributor": [
                    _ref("Organization", f"org-{holder.key}", holder.name),
                    _ref("Organization", f"org-{fixed.unit}", _UNITS[fixed.unit].name),
                ],
            }
        )

    contract_id = f"demo-contract-{suffix}"
    goal_refs = [_ref("Goal", g["id"], g["description"]["text"]) for g in goals]
    patient_performer = [patient_ref]
    units = sorted({fixed.unit, doctor.unit, *(p.unit for p in treating)})
    activities = [
        _activity("egen-insats", scenario.my_part, patient_performer, goal_refs),
        _activity("egenvard", scenario.self_care, patient_performer, goal_refs),
        _activity(
            "vardens-insats", scenario.care_part, [_role_ref(fixed), *(_role_ref(p) for p in treating)], goal_refs
        ),
        _activity("nar-soka-vard", scenario.seek_care, patient_performer, []),
        {
            "detail": {
                **_activity("kontaktvag", scenario.whom_to_contact, [_role_ref(fixed)], [])["detail"],
                "extension": [_channel(channel) for channel in scenario.channels],
            }
        },
        {
            "detail": {
                "kind": "Appointment",
                "code": concept(ACTIVITY_KIND_SYSTEM, ACTIVITY_KINDS, "nasta-kontakt"),
                "status": "scheduled",
                "scheduledPeriod": {"start": _instant(next_day, next_hour), "end": _instant(next_day, next_hour, 30)},
                "location": {"display": _UNITS[fixed.unit].name},
                "performer": [_role_ref(fixed)],
                **({"extension": [_channel("video")]} if scenario.next_by_video else {}),
                "description": f"{scenario.next_contact} {next_day.isoformat()} kl. {next_hour:02d}:00. "
                "Du har fått tiden i handen.",
            }
        },
    ]
    contract: Resource = {
        "resourceType": "CarePlan",
        "meta": {"profile": [PROFILE_CONTRACT]},
        "id": contract_id,
        "text": _narrative(
            [
                f"Patientkontrakt för {name}: {scenario.condition}.",
                f"Viktigt för mig: {scenario.what_matters}",
                f"Fast vårdkontakt: {fixed.given} {fixed.family}, {CARE_ROLES[fixed.role]}, tel. {fixed.phone}.",
                f"Nästa tid: {scenario.next_contact} {next_day.isoformat()} kl. {next_hour:02d}:00.",
            ]
        ),
        "identifier": [{"system": CONTRACT_IDENTIFIER_SYSTEM, "value": f"PK-{start.year}-{suffix}"}],
        "status": "active",
        "intent": "plan",
        "category": [concept(PLAN_TYPE_SYSTEM, PLAN_TYPES, "patientkontrakt")],
        "title": f"Patientkontrakt för {name}",
        "description": f"Sammanhållen plan för {name}: {scenario.condition}.",
        "subject": patient_ref,
        "period": {"start": start.isoformat()},
        "created": start.isoformat(),
        "author": _role_ref(fixed),
        "contributor": [_ref("Organization", f"org-{unit}", _UNITS[unit].name) for unit in units],
        "careTeam": [_ref("CareTeam", care_team["id"], care_team["name"])],
        "goal": goal_refs,
        "activity": activities,
        "note": [
            {"time": _instant(start, 10), "text": "Planen är upprättad tillsammans med patienten och närstående."}
        ],
    }
    if linked:
        contract["supportingInfo"] = [_ref("CarePlan", plan["id"], plan["title"]) for plan in linked]
    contract["note"] += _revision_notes(start, today, [fixed, doctor, *treating])
    appointment: Resource = {
        "resourceType": "Appointment",
        "id": f"demo-appointment-{suffix}",
        "status": "booked",
        "description": scenario.next_contact,
        "start": datetime.combine(next_day, time(next_hour), STOCKHOLM)
        .astimezone(UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "end": datetime.combine(next_day, time(next_hour, 30), STOCKHOLM)
        .astimezone(UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "supportingInformation": [_ref("CarePlan", contract_id)],
        **({"appointmentType": {"coding": [_channel("video")["valueCoding"]]}} if scenario.next_by_video else {}),
        "participant": [
            {"actor": patient_ref, "status": "accepted"},
            {"actor": _role_ref(fixed), "status": "accepted"},
        ],
    }
    return [patient, relative, *goals, care_team, *linked, contract, appointment]


REVISIONS = {
    "hospital": "Läkemedlen är justerade efter återbesöket på kliniken; planen i övrigt gäller som förut.",
    "primary": "Nästa steg och egenvården är genomgångna tillsammans med dig på vårdcentralen.",
    "home-care": "Hemsjukvårdens besök är inlagda i planen, samordnat med din SIP.",
}
"""What each kind of unit changed when it revised a demo contract."""


def _revision_notes(start: date, today: date, people: list[Clinician]) -> list[dict[str, Any]]:
    """The contract's revisions after it was agreed, one note each: by up to two units other
    than the fixed care contact's, evenly spaced between the agreement and today."""
    units: dict[str, Clinician] = {}
    for person in people[1:]:
        if person.unit != people[0].unit and _UNITS[person.unit].kind in REVISIONS:
            units.setdefault(person.unit, person)
    revisers = list(units.values())[:2]
    notes = []
    for number, person in enumerate(revisers, 1):
        day = start + (today - start) * number // (len(revisers) + 1)
        unit = _UNITS[person.unit]
        notes.append(
            {
                "authorReference": _ref("Practitioner", f"prac-{person.key}", f"{person.given} {person.family}"),
                "time": _instant(day, 14),
                "text": f"Reviderad av {unit.name}: {REVISIONS[unit.kind]}",
            }
        )
    return notes


def demo_items(patients: int = 40, *, today: date | None = None) -> Iterator[SourcedResource]:
    """The demo resources as the loader takes them (``fhirbridge demo``): each contract with
    its history (:func:`contract_history`), everything else as it is."""
    for resource in demo_resources(patients, today=today):
        history = contract_history(resource) if resource["id"].startswith("demo-contract-") else ()
        yield SourcedResource(f"demo:{resource['resourceType']}/{resource['id']}", resource, history)


def contract_history(contract: Resource) -> tuple[Version, ...]:
    """A demo contract's versions, as they were agreed and revised: the first with its first
    note, by its author; each later one adds a revision note, by the note's author for their
    unit.  Loaded as history (:class:`fhirbridge.loading.Version`), so the contract has
    versions and Provenances from several units at their dates."""
    notes = contract.get("note") or []
    versions = []
    for count, note in enumerate(notes, 1):
        if count == 1:
            who = contract["author"]
            person = _CLINICIANS[who["reference"].removeprefix("PractitionerRole/role-")]
        else:
            person = _CLINICIANS[note["authorReference"]["reference"].removeprefix("Practitioner/prac-")]
        at = parse_instant(note["time"], "note.time")
        provenance = {
            "resourceType": "Provenance",
            "activity": {"coding": [{"system": DATA_OPERATION, "code": "CREATE" if count == 1 else "UPDATE"}]},
            "agent": [
                {
                    "type": {"coding": [{"system": PARTICIPATION_TYPE, "code": "author"}]},
                    "who": _role_ref(person),
                    "onBehalfOf": _ref("Organization", f"org-{person.unit}", _UNITS[person.unit].name),
                }
            ],
        }
        versions.append(Version(at, provenance, {**contract, "note": notes[:count]}))
    return tuple(versions)


def _channel(code: str) -> dict[str, Any]:
    """The contact-channel extension: how the patient reaches care, or how a visit is held (video)."""
    return {"url": CONTACT_CHANNEL_EXTENSION, "valueCoding": coding(CONTACT_CHANNEL_SYSTEM, CONTACT_CHANNELS, code)}


def declined_patient(number: int, rng: random.Random, taken: set[str]) -> Resource:
    """A patient who was offered a contract and declined it: a Patient and nothing more."""
    female = number % 2 == 1
    birth = date(rng.randint(1935, 1960), rng.randint(1, 12), rng.randint(1, 28))
    serial = rng.randrange(0, 1000) // 2 * 2 + (0 if female else 1)
    identifier = make_personnummer(birth, serial)
    while identifier in taken:
        serial = (serial + 2) % 1000
        identifier = make_personnummer(birth, serial)
    taken.add(identifier)
    given, family = rng.choice(GIVEN_FEMALE if female else GIVEN_MALE), rng.choice(FAMILY)
    return {
        "resourceType": "Patient",
        "meta": {"profile": [PROFILE_PATIENT]},
        "id": f"demo-declined-{number:05d}",
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": identifier}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given], "text": f"{given} {family}"}],
        "gender": gender_of(identifier),
        "birthDate": birth.isoformat(),
    }


def _activity(kind: str, text: str, performers: list[dict[str, str]], goals: list[dict[str, str]]) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "code": concept(ACTIVITY_KIND_SYSTEM, ACTIVITY_KINDS, kind),
        "status": "in-progress",
        "performer": performers,
        "description": text,
    }
    if goals:
        detail["goal"] = goals
    return {"detail": detail}


def demo_resources(patients: int = 12, *, seed: int = 2026, today: date | None = None) -> Iterator[Resource]:
    """Shared organisations and clinicians first, then each patient's contract with their main
    condition and (for four in five) their answers to the seven questions (and one patient's
    question awaiting a reply), and last the
    staff's answers (:mod:`fhirbridge.demo.follow_up`)."""
    rng = random.Random(seed)
    day = today or datetime.now(STOCKHOLM).date()
    yield from organisations()
    yield from clinicians()
    taken: set[str] = set()
    answers = random.Random(seed + 1)  # the follow-up draws apart, so the contracts stay as they were
    for index in range(1, patients + 1):
        contract = patient_contract(index, day, rng, taken)
        yield from contract
        patient_id = f"demo-patient-{index:05d}"
        if index == messages.ASKING:  # one patient's question awaits a reply
            yield messages.pending_question(next(r for r in contract if r["id"].startswith("demo-contract-")), day)
        yield follow_up.main_condition(index, patient_id, day)
        if index % 5 != 0:  # four in five patients answer the seven questions
            yield follow_up.patient_answers(index, patient_id, day, answers)
    yield from follow_up.staff_answers(follow_up.answered_units(patients), day, answers)
    for number in range(1, max(1, patients // 8) + 1):  # a few offers declined
        person = declined_patient(number, rng, taken)
        yield person
        yield follow_up.declined_offer(number, person, day, answers)

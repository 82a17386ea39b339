"""Every search parameter the issue names finds the resource that has the value and not one
that lacks it, on SQLite and PostgreSQL (R4 search.html and each resource's search table)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.sweden.identifiers import HSA_SYSTEM
from tests.support import builders

S = "https://fhirbridge.se/fhir/CodeSystem/test"
OTHER = "https://other.region.se/fhir"
PROFILE = "https://fhir.region.example/StructureDefinition/regional-careplan"  # not ours: not enforced


async def _post(client: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _concept(code: str) -> dict[str, Any]:
    return {"coding": [{"system": S, "code": code, "display": f"Visning {code}"}], "text": f"Text för {code}"}


def _ident(value: str) -> list[dict[str, str]]:
    return [{"system": "https://region.se/id", "value": value}]


@pytest.fixture
async def full(client: httpx.AsyncClient) -> dict[str, str]:
    """One resource of each type with every searched element set, and a bare one of each type."""
    ids: dict[str, str] = {}
    ids["Patient"] = await _post(client, builders.patient("191212121212"))
    ids["Practitioner"] = await _post(
        client,
        {
            "resourceType": "Practitioner",
            "identifier": [{"system": HSA_SYSTEM, "value": "SE2321000198-P0KL1"}],
            "active": True,
            "name": [{"family": "Lind", "given": ["Karin"]}],
            "gender": "female",
            "telecom": [
                {"system": "phone", "value": "026-15 62 14"},
                {"system": "email", "value": "karin.lind@regiongavleborg.se"},
            ],
            "address": [{"city": "Gävle"}],
        },
    )
    ids["parent-org"] = await _post(client, {"resourceType": "Organization", "name": "Region Gävleborg"})
    ids["Organization"] = await _post(
        client,
        {
            "resourceType": "Organization",
            "identifier": _ident("org-1"),
            "active": True,
            "type": [_concept("vardcentral")],
            "name": "Vårdcentralen Norrtull",
            "address": [{"city": "Gävle", "postalCode": "80320"}],
            "partOf": {"reference": f"Organization/{ids['parent-org']}"},
        },
    )
    ids["PractitionerRole"] = await _post(
        client,
        {
            "resourceType": "PractitionerRole",
            "identifier": _ident("role-1"),
            "active": True,
            "period": {"start": "2025-01-01"},
            "practitioner": {"reference": f"Practitioner/{ids['Practitioner']}"},
            "organization": {"reference": f"Organization/{ids['Organization']}"},
            "code": [_concept("fast-vardkontakt")],
            "specialty": [_concept("allmanmedicin")],
            "telecom": [{"system": "phone", "value": "026-15 62 00"}],
        },
    )
    ids["RelatedPerson"] = await _post(
        client,
        {
            "resourceType": "RelatedPerson",
            "identifier": _ident("rel-1"),
            "active": True,
            "patient": {"reference": f"Patient/{ids['Patient']}"},
            "relationship": [_concept("dotter")],
            "name": [{"family": "Tolvansson", "given": ["Elin"]}],
            "gender": "female",
            "birthDate": "1950-05-05",
        },
    )
    patient = {"reference": f"Patient/{ids['Patient']}"}
    ids["CareTeam"] = await _post(
        client,
        {
            "resourceType": "CareTeam",
            "identifier": _ident("team-1"),
            "status": "active",
            "category": [_concept("vardteam")],
            "subject": patient,
            "period": {"start": "2026-01-01"},
            "participant": [{"member": {"reference": f"Practitioner/{ids['Practitioner']}"}}],
        },
    )
    ids["Goal"] = await _post(
        client,
        {
            "resourceType": "Goal",
            "identifier": _ident("goal-1"),
            "lifecycleStatus": "active",
            "achievementStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/goal-achievement", "code": "in-progress"}]
            },
            "category": [_concept("vad-ar-viktigt")],
            "description": {"text": "Orka gå till affären"},
            "subject": patient,
            "startDate": "2026-02-01",
            "target": [{"dueDate": "2026-12-31"}],
        },
    )
    ids["other-patient"] = await _post(client, {"resourceType": "Patient"})
    ids["earlier-plan"] = await _post(
        client, dict(builders.care_plan(ids["other-patient"]), status="completed", intent="proposal")
    )
    earlier = {"reference": f"CarePlan/{ids['earlier-plan']}"}
    ids["CarePlan"] = await _post(
        client,
        {
            "resourceType": "CarePlan",
            "meta": {
                "profile": [PROFILE],
                "tag": [{"system": S, "code": "tagg"}],
                "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "NOPATIENT"}],
                "source": "https://journal.region.se/cosmic",
            },
            "identifier": _ident("plan-1"),
            "instantiatesCanonical": ["https://fhirbridge.se/fhir/PlanDefinition/patientkontrakt"],
            "instantiatesUri": ["https://rutiner.region.se/patientkontrakt"],
            "basedOn": [earlier],
            "replaces": [earlier],
            "partOf": [earlier],
            "status": "active",
            "intent": "plan",
            "category": [_concept("patientkontrakt")],
            "subject": patient,
            "encounter": {"reference": f"{OTHER}/Encounter/e1"},
            "period": {"start": "2026-03-01", "end": "2026-12-31"},
            "careTeam": [{"reference": f"CareTeam/{ids['CareTeam']}"}],
            "addresses": [{"reference": f"{OTHER}/Condition/c1"}],
            "goal": [{"reference": f"Goal/{ids['Goal']}"}],
            "activity": [
                {
                    "detail": {
                        "code": _concept("nasta-kontakt"),
                        "status": "scheduled",
                        "scheduledPeriod": {"start": "2026-04-15T10:00:00+02:00", "end": "2026-04-15T10:30:00+02:00"},
                        "performer": [{"reference": f"Practitioner/{ids['Practitioner']}"}],
                    }
                }
            ],
        },
    )
    ids["Appointment"] = await _post(
        client,
        {
            "resourceType": "Appointment",
            "identifier": _ident("appt-1"),
            "status": "booked",
            "serviceType": [_concept("aterbesok")],
            "appointmentType": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": "FOLLOWUP"}]
            },
            "reasonCode": [_concept("hjartsvikt")],
            "start": "2026-04-15T08:00:00Z",
            "end": "2026-04-15T08:30:00Z",
            "participant": [
                {"actor": patient, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/{ids['Practitioner']}"}, "status": "accepted"},
            ],
        },
    )
    # The bare ones: the least each type needs, so that they must not match.
    bare = {
        "Patient": {"resourceType": "Patient"},
        "Practitioner": {"resourceType": "Practitioner"},
        "Organization": {"resourceType": "Organization"},
        "PractitionerRole": {"resourceType": "PractitionerRole"},
        "RelatedPerson": {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{ids['other-patient']}"}},
        "CareTeam": {"resourceType": "CareTeam"},
        "Goal": {
            "resourceType": "Goal",
            "lifecycleStatus": "proposed",
            "description": {"text": "x"},
            "subject": {"reference": f"Patient/{ids['other-patient']}"},
        },
        "CarePlan": {
            "resourceType": "CarePlan",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": f"Patient/{ids['other-patient']}"},
        },
        "Appointment": {
            "resourceType": "Appointment",
            "status": "proposed",
            "participant": [{"status": "needs-action", "type": [_concept("x")]}],
        },
    }
    for resource in bare.values():
        await _post(client, resource)
    return ids


def cases() -> list[tuple[str, str, str]]:
    """(type, parameter, value); ``{Type}`` in a value is replaced by that resource's id."""
    pid, pr, ct, goal, plan0 = (
        "Patient/{Patient}",
        "Practitioner/{Practitioner}",
        "CareTeam/{CareTeam}",
        "Goal/{Goal}",
        "CarePlan/{earlier-plan}",
    )
    return [
        ("CarePlan", "patient", pid),
        ("CarePlan", "subject", pid),
        ("CarePlan", "status", "active"),
        ("CarePlan", "intent", "plan"),
        ("CarePlan", "category", f"{S}|patientkontrakt"),
        ("CarePlan", "category:text", "text för patientkontrakt"),
        ("CarePlan", "date", "ge2026-06-01"),
        ("CarePlan", "identifier", "https://region.se/id|plan-1"),
        ("CarePlan", "care-team", ct),
        ("CarePlan", "goal", goal),
        ("CarePlan", "based-on", plan0),
        ("CarePlan", "part-of", plan0),
        ("CarePlan", "replaces", plan0),
        ("CarePlan", "instantiates-canonical", "https://fhirbridge.se/fhir/PlanDefinition/patientkontrakt"),
        ("CarePlan", "instantiates-uri", "https://rutiner.region.se/patientkontrakt"),
        ("CarePlan", "instantiates-uri:below", "https://rutiner.region.se"),
        ("CarePlan", "activity-code", "nasta-kontakt"),
        ("CarePlan", "activity-date", "2026-04-15"),
        ("CarePlan", "performer", pr),
        ("CarePlan", "encounter", f"{OTHER}/Encounter/e1"),
        ("CarePlan", "condition", f"{OTHER}/Condition/c1"),
        ("CarePlan", "_id", "{CarePlan}"),
        ("CarePlan", "_profile", PROFILE),
        ("CarePlan", "_profile:above", PROFILE + "/extra/part"),
        ("CarePlan", "_tag", f"{S}|tagg"),
        ("CarePlan", "_security", "NOPATIENT"),
        ("CarePlan", "_source", "https://journal.region.se/cosmic"),
        ("CareTeam", "patient", pid),
        ("CareTeam", "subject", pid),
        ("CareTeam", "participant", pr),
        ("CareTeam", "status", "active"),
        ("CareTeam", "category", "vardteam"),
        ("CareTeam", "date", "ge2026-02"),
        ("CareTeam", "identifier", "team-1"),
        ("Goal", "patient", pid),
        ("Goal", "subject", pid),
        ("Goal", "lifecycle-status", "active"),
        ("Goal", "achievement-status", "in-progress"),
        ("Goal", "category", "vad-ar-viktigt"),
        ("Goal", "target-date", "2026-12-31"),
        ("Goal", "start-date", "le2026-02-01"),
        ("Goal", "identifier", "goal-1"),
        ("Patient", "identifier", "http://electronichealth.se/identifier/personnummer|191212121212"),
        ("Patient", "name", "tolv"),
        ("Patient", "family", "TOLVANSSON"),
        ("Patient", "family:exact", "Tolvansson"),
        ("Patient", "given:contains", "olva"),
        ("Patient", "birthdate", "1912"),
        ("Patient", "gender", "male"),
        ("Practitioner", "identifier", f"{HSA_SYSTEM}|SE2321000198-P0KL1"),
        ("Practitioner", "name", "karin"),
        ("Practitioner", "family", "lind"),
        ("Practitioner", "given", "kar"),
        ("Practitioner", "active", "true"),
        ("Practitioner", "gender", "female"),
        ("Practitioner", "phone", "026-15 62 14"),
        ("Practitioner", "email", "karin.lind@regiongavleborg.se"),
        ("Practitioner", "telecom", "026-15 62 14"),
        ("Practitioner", "address-city", "gavle"),
        ("PractitionerRole", "identifier", "role-1"),
        ("PractitionerRole", "practitioner", pr),
        ("PractitionerRole", "organization", "Organization/{Organization}"),
        ("PractitionerRole", "role", "fast-vardkontakt"),
        ("PractitionerRole", "specialty", "allmanmedicin"),
        ("PractitionerRole", "active", "true"),
        ("PractitionerRole", "date", "ge2025-06-01"),
        ("PractitionerRole", "phone", "026-15 62 00"),
        ("Organization", "identifier", "org-1"),
        ("Organization", "name", "vardcentralen"),
        ("Organization", "name:contains", "norrtull"),
        ("Organization", "type", "vardcentral"),
        ("Organization", "active", "true"),
        ("Organization", "address-city", "Gävle"),
        ("Organization", "address-postalcode", "80320"),
        ("Organization", "partof", "Organization/{parent-org}"),
        ("RelatedPerson", "identifier", "rel-1"),
        ("RelatedPerson", "patient", pid),
        ("RelatedPerson", "name", "elin"),
        ("RelatedPerson", "relationship", "dotter"),
        ("RelatedPerson", "active", "true"),
        ("RelatedPerson", "birthdate", "1950-05-05"),
        ("RelatedPerson", "gender", "female"),
        ("Appointment", "identifier", "appt-1"),
        ("Appointment", "status", "booked"),
        ("Appointment", "date", "2026-04-15"),
        ("Appointment", "patient", pid),
        ("Appointment", "practitioner", pr),
        ("Appointment", "actor", pid),
        ("Appointment", "service-type", "aterbesok"),
        ("Appointment", "appointment-type", "FOLLOWUP"),
        ("Appointment", "reason-code", "hjartsvikt"),
    ]


async def test_every_parameter_finds_exactly_the_resource_with_the_value(
    client: httpx.AsyncClient, full: dict[str, str]
) -> None:
    wrong = {}
    for resource_type, parameter, template in cases():
        value = template.format(**full)
        response = await client.get(
            f"/fhir/{resource_type}", params={parameter: value}, headers={"Prefer": "handling=strict"}
        )
        found = [e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"]
        if response.status_code != 200 or found != [full[resource_type]]:
            wrong[f"{resource_type}?{parameter}={value}"] = (response.status_code, found)
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())


async def test_not_and_missing_select_the_others(client: httpx.AsyncClient, full: dict[str, str]) -> None:
    not_active = (await client.get("/fhir/CarePlan", params={"status:not": "active"})).json()
    assert full["CarePlan"] not in {e["resource"]["id"] for e in not_active["entry"]}
    assert len(not_active["entry"]) == 2  # the earlier plan and the bare draft
    missing = (await client.get("/fhir/CarePlan", params={"care-team:missing": "true"})).json()
    assert full["CarePlan"] not in {e["resource"]["id"] for e in missing["entry"]}
    present = (await client.get("/fhir/CarePlan", params={"care-team:missing": "false"})).json()
    assert [e["resource"]["id"] for e in present["entry"]] == [full["CarePlan"]]

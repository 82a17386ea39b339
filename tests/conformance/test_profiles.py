"""The profiles in profiles/: served, enforced on every write, and met by the demo data (issue 4)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fhirbridge.conformance.registry import registry
from fhirbridge.conformance.validator import validate_profiles
from fhirbridge.contract.codes import AMBITION_LEVELS, CONDITION_ROLES
from fhirbridge.demo.generator import demo_resources
from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM
from tests.support import builders
from tests.support.api import create, expressions, history, outcome
from tests.support.contracts import contract_world

CANONICAL = "https://fhirbridge.se/fhir/StructureDefinition/"
Change = Callable[[dict[str, Any]], None]


def test_every_structure_definition_has_a_differential_and_a_snapshot() -> None:
    definitions = registry().of_type("StructureDefinition")
    assert {d["id"] for d in definitions} >= {"contract-careplan", "contract-careteam", "contract-goal", "se-patient"}
    for definition in definitions:
        assert definition["differential"]["element"] and definition["snapshot"]["element"], definition["id"]
        assert definition["fhirVersion"] == "4.0.1"


def test_the_demo_data_meets_every_profile_it_claims() -> None:
    checked = 0
    for resource in demo_resources(12):
        issues = validate_profiles(resource)
        assert issues == [], (resource["id"], issues)
        checked += bool(resource.get("meta", {}).get("profile"))
    assert checked >= 12 * 4  # every patient, goal, care team and contract claims its profile


def _drop_activity(kind: str) -> Change:
    def change(plan: dict[str, Any]) -> None:
        plan["activity"] = [a for a in plan["activity"] if a["detail"]["code"]["coding"][0]["code"] != kind]

    return change


def _drop(name: str) -> Change:
    return lambda plan: plan.pop(name)


MISSING_PARTS: list[tuple[str, Change, str, str]] = [
    ("the patient's own part", _drop_activity("egen-insats"), "contract-own-part", "CarePlan.activity"),
    ("care's part", _drop_activity("vardens-insats"), "contract-care-part", "CarePlan.activity"),
    ("whom to contact", _drop_activity("kontaktvag"), "contract-whom-to-contact", "CarePlan.activity"),
    ("the agreed next contact", _drop_activity("nasta-kontakt"), "contract-next-contact", "CarePlan.activity"),
    ("the author", _drop("author"), "CarePlan.author is required", "CarePlan.author"),
    ("the period", _drop("period"), "CarePlan.period is required", "CarePlan.period"),
    ("the care team", _drop("careTeam"), "CarePlan.careTeam is required", "CarePlan.careTeam"),
    ("the goals", _drop("goal"), "CarePlan.goal is required", "CarePlan.goal"),
    ("the title", _drop("title"), "CarePlan.title is required", "CarePlan.title"),
]


@pytest.mark.parametrize(("part", "change", "message", "expression"), MISSING_PARTS, ids=[m[0] for m in MISSING_PARTS])
async def test_a_contract_missing_a_part_is_422_naming_it(
    client: httpx.AsyncClient, part: str, change: Change, message: str, expression: str
) -> None:
    world = await contract_world(client)
    body = copy.deepcopy(world["contract"])
    change(body)
    rejected = outcome(await client.post("/fhir/CarePlan", json=body), 422)
    assert any(
        message in issue["diagnostics"] and expression in issue.get("expression", []) for issue in rejected["issue"]
    ), rejected
    assert await history(client, "CarePlan/_history") == []


async def test_every_missing_part_is_named_at_once(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    body = copy.deepcopy(world["contract"])
    body["activity"] = body["activity"][:1]  # only the patient's own part
    del body["author"]
    rejected = outcome(await client.post("/fhir/CarePlan", json=body), 422)
    named = " ".join(issue["diagnostics"] for issue in rejected["issue"])
    for key in ("contract-care-part", "contract-whom-to-contact", "contract-next-contact", "CarePlan.author"):
        assert key in named


async def test_a_contract_whose_goals_the_patient_did_not_express_is_refused(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    professional_goal = await create(
        client,
        dict(
            builders.goal(world["patient"]["id"]), expressedBy={"reference": f"PractitionerRole/{world['role']['id']}"}
        ),
    )
    body = dict(world["contract"], goal=[{"reference": f"Goal/{professional_goal['id']}"}])
    rejected = outcome(await client.post("/fhir/CarePlan", json=body), 422)
    assert expressions(rejected) == ["CarePlan.goal"]
    assert "contract-patient-goal" in rejected["issue"][0]["diagnostics"]


async def test_a_complete_contract_is_accepted(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    stored = await create(client, world["contract"])
    assert stored["category"][0]["coding"][0]["code"] == "patientkontrakt"


async def test_a_claimed_profile_is_enforced(client: httpx.AsyncClient) -> None:
    body = builders.patient()
    body["meta"] = {"profile": [CANONICAL + "se-patient"]}
    body["identifier"].append({"system": PERSONNUMMER_SYSTEM, "value": "191212121212"})  # a second personnummer
    rejected = outcome(await client.post("/fhir/Patient", json=body), 422)
    assert "Patient.identifier" in expressions(rejected)


async def test_a_claimed_profile_of_another_type_is_refused(client: httpx.AsyncClient) -> None:
    body = dict(builders.patient(), meta={"profile": [CANONICAL + "contract-goal"]})
    outcome(await client.post("/fhir/Patient", json=body), 422)


async def test_an_unknown_profile_is_not_enforced(client: httpx.AsyncClient) -> None:
    body = dict(builders.patient(), meta={"profile": ["https://fhir.region.example/StructureDefinition/x"]})
    await create(client, body)


async def test_the_structure_definitions_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/StructureDefinition/contract-careplan")
    assert response.status_code == 200
    assert response.json()["url"] == CANONICAL + "contract-careplan"
    found = (await client.get("/fhir/ValueSet", params={"url": "https://fhirbridge.se/fhir/ValueSet/care-role"})).json()
    assert found["total"] == 1
    assert (await client.get("/fhir/StructureDefinition/finns-inte")).status_code == 404
    statement = (await client.get("/fhir/metadata")).json()
    care_plan = next(r for r in statement["rest"][0]["resource"] if r["type"] == "CarePlan")
    assert care_plan["supportedProfile"] == [CANONICAL + "contract-careplan", CANONICAL + "contract-declined-offer"]


async def test_our_search_parameters_find_fixed_care_contacts_and_the_patients_goals(client: httpx.AsyncClient) -> None:
    world = await contract_world(client)
    fixed = "https://fhirbridge.se/fhir/CodeSystem/care-role|fast-vardkontakt"
    teams = (await client.get("/fhir/CareTeam", params={"role": fixed})).json()
    assert [e["resource"]["id"] for e in teams["entry"]] == [world["team"]["id"]]
    assert (await client.get("/fhir/CareTeam", params={"role": fixed.replace("vardkontakt", "lakarkontakt")})).json()[
        "total"
    ] == 0
    goals = (await client.get("/fhir/Goal", params={"expressed-by": f"Patient/{world['patient']['id']}"})).json()
    assert [e["resource"]["id"] for e in goals["entry"]] == [world["goal"]["id"]]
    served = (await client.get("/fhir/SearchParameter/CareTeam-role")).json()
    assert served["expression"] == "CareTeam.participant.role"


@pytest.mark.parametrize(
    ("extension", "contexts", "value"),
    [
        ("ambition-level", ["Goal"], "CodeableConcept"),
        ("answered-for-unit", ["QuestionnaireResponse"], "Reference"),
        ("fixed-contact-reassessment", ["CareTeam", "CarePlan"], "date"),
        ("offer-declined", ["CareTeam.participant", "CarePlan"], "dateTime"),
    ],
)
async def test_the_follow_up_extensions_are_served(
    client: httpx.AsyncClient, extension: str, contexts: list[str], value: str
) -> None:
    served = (await client.get(f"/fhir/StructureDefinition/{extension}")).json()
    assert served["url"] == CANONICAL + extension and served["type"] == "Extension"
    assert [c["expression"] for c in served["context"]] == contexts
    element = next(e for e in served["snapshot"]["element"] if e["id"] == "Extension.value[x]")
    assert [t["code"] for t in element["type"]] == [value]
    assert element["min"] == 1


def test_the_ambition_level_is_bound_and_the_unit_is_an_organization() -> None:
    ambition = registry().read("StructureDefinition", "ambition-level")
    unit = registry().read("StructureDefinition", "answered-for-unit")
    assert ambition is not None and unit is not None
    value = next(e for e in ambition["snapshot"]["element"] if e["id"] == "Extension.value[x]")
    assert value["binding"]["strength"] == "required"
    assert value["binding"]["valueSet"] == "https://fhirbridge.se/fhir/ValueSet/ambition-level"
    reference = next(e for e in unit["snapshot"]["element"] if e["id"] == "Extension.value[x]")
    assert reference["type"][0]["targetProfile"] == ["http://hl7.org/fhir/StructureDefinition/Organization"]


@pytest.mark.parametrize(
    ("code_system", "table"), [("ambition-level", AMBITION_LEVELS), ("condition-role", CONDITION_ROLES)]
)
async def test_the_follow_up_code_systems_are_served_in_swedish(
    client: httpx.AsyncClient, code_system: str, table: dict[str, str]
) -> None:
    served = (await client.get(f"/fhir/CodeSystem/{code_system}")).json()
    assert served["url"] == f"https://fhirbridge.se/fhir/CodeSystem/{code_system}" and served["language"] == "sv"
    assert {c["code"]: c["display"] for c in served["concept"]} == table
    value_set = f"https://fhirbridge.se/fhir/ValueSet/{code_system}"
    assert registry().codes(value_set) == {(served["url"], code) for code in table}

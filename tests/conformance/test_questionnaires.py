"""The questionnaires in profiles/ (issue 13): served read-only, with the linkIds, answer types,
required flags and enableWhen that $extract and the report rely on, in the seeds' own words."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fhirpathpy
import httpx
import pytest

from fhirbridge.conformance.registry import registry
from fhirbridge.validation.json_form import check_json_form
from tests.support.api import outcome

BASE = "https://fhirbridge.se/fhir"
EXCERPTS = Path(__file__).parent / "seed_excerpts"
SEEDS = Path(os.environ.get("FHIRBRIDGE_SEEDS", "/work/shared/seeds"))
"""The seed documents, where they are on the machine: the excerpts must be their exact lines."""

SEVEN = [(f"q{n}", "boolean", True, None) for n in range(1, 8)]
FIVE = [(f"q{n}", "boolean", True, None) for n in range(1, 6)]
EXPECTED: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "contract-conversation": [
        ("what-matters", "text", True, None),
        ("shared-goal", "group", True, None),
        ("shared-goal.description", "text", True, "shared-goal"),
        ("shared-goal.ambition", "choice", True, "shared-goal"),
        ("own-part", "text", True, None),
        ("has-fixed-contact", "boolean", True, None),
        ("has-fixed-doctor", "boolean", True, None),
        ("knows-next-step", "boolean", True, None),
        ("has-plan-overview", "boolean", True, None),
        ("wants-coordination", "boolean", True, None),
        ("fixed-contact-proposal", "group", False, None),
        ("fixed-contact-proposal.unit", "reference", True, "fixed-contact-proposal"),
        ("fixed-contact-proposal.person", "reference", False, "fixed-contact-proposal"),
    ],
    "seven-questions-patient": SEVEN,
    "seven-questions-staff": SEVEN,
    "five-questions-patient": FIVE,
}
"""Each questionnaire's items in document order: linkId, type, required, the enclosing group."""

REFERENCE_RESOURCE = "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource"


def _items(items: list[dict[str, Any]], parent: str | None = None) -> Iterator[tuple[dict[str, Any], str | None]]:
    for item in items:
        yield item, parent
        yield from _items(item.get("item", []), item["linkId"])


def _flat(questionnaire: dict[str, Any]) -> list[tuple[str, str, bool, str | None]]:
    return [(i["linkId"], i["type"], i.get("required", False), p) for i, p in _items(questionnaire["item"])]


def _words(text: str) -> str:
    """Whitespace normalised: the seeds break lines inside a question."""
    return " ".join(text.split())


def _excerpt(name: str) -> str:
    return _words(next(EXCERPTS.glob(f"{name}_*.txt")).read_text(encoding="utf-8"))


def _questionnaire(questionnaire_id: str) -> dict[str, Any]:
    found = registry().read("Questionnaire", questionnaire_id)
    assert found is not None, questionnaire_id
    return found


def _texts(questionnaire_id: str) -> dict[str, str]:
    return {item["linkId"]: item["text"] for item, _ in _items(_questionnaire(questionnaire_id)["item"])}


@pytest.mark.parametrize("questionnaire_id", sorted(EXPECTED))
async def test_each_questionnaire_is_served_with_its_items(client: httpx.AsyncClient, questionnaire_id: str) -> None:
    response = await client.get(f"/fhir/Questionnaire/{questionnaire_id}")
    assert response.status_code == 200
    served = response.json()
    assert served["resourceType"] == "Questionnaire" and served["id"] == questionnaire_id
    assert served["url"] == f"{BASE}/Questionnaire/{questionnaire_id}"
    assert (served["status"], served["language"]) == ("active", "sv")
    assert _flat(served) == EXPECTED[questionnaire_id]
    assert "seed 00" in served["description"]


async def test_only_wanting_help_to_coordinate_opens_the_fixed_contact_proposal(client: httpx.AsyncClient) -> None:
    served = (await client.get("/fhir/Questionnaire/contract-conversation")).json()
    opened = {item["linkId"]: item["enableWhen"] for item, _ in _items(served["item"]) if "enableWhen" in item}
    assert opened == {
        "fixed-contact-proposal": [{"question": "wants-coordination", "operator": "=", "answerBoolean": True}]
    }
    for name in ("seven-questions-patient", "seven-questions-staff", "five-questions-patient"):
        assert not any("enableWhen" in item for item, _ in _items(_questionnaire(name)["item"]))


async def test_the_ambition_level_and_the_proposed_contacts_are_bound(client: httpx.AsyncClient) -> None:
    items = {item["linkId"]: item for item, _ in _items(_questionnaire("contract-conversation")["item"])}
    value_set = items["shared-goal.ambition"]["answerValueSet"]
    assert value_set == f"{BASE}/ValueSet/ambition-level"
    found = (await client.get("/fhir/ValueSet", params={"url": value_set})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["ambition-level"]
    assert registry().codes(value_set) == {
        (f"{BASE}/CodeSystem/ambition-level", code) for code in ("hog", "balanserad", "lindrande")
    }
    targets = {
        link_id: [e["valueCode"] for e in items[link_id]["extension"] if e["url"] == REFERENCE_RESOURCE]
        for link_id in ("fixed-contact-proposal.unit", "fixed-contact-proposal.person")
    }
    assert targets == {
        "fixed-contact-proposal.unit": ["Organization"],
        "fixed-contact-proposal.person": ["PractitionerRole"],
    }


def test_the_seven_questions_are_seed_003s_words_patients_beside_staff() -> None:
    seed = _excerpt("003")
    patient, staff = _texts("seven-questions-patient"), _texts("seven-questions-staff")
    for n in range(1, 8):
        link_id = f"q{n}"
        assert f"{n}. {patient[link_id]} {staff[link_id]}" in seed, link_id
    assert "vad de ka göra" in staff["q2"]  # the seed's typo, kept as written
    for name in ("seven-questions-patient", "seven-questions-staff", "five-questions-patient"):
        assert [item.get("prefix") for item in _questionnaire(name)["item"]] == [
            f"{n}." for n in range(1, len(_questionnaire(name)["item"]) + 1)
        ]


def test_the_five_questions_are_seed_002s_words() -> None:
    seed = _excerpt("002")
    for link_id, text in _texts("five-questions-patient").items():
        assert f"{link_id[1:]}. {text}" in seed, link_id


def test_the_conversation_asks_seed_001s_questions_in_its_order() -> None:
    seed = _excerpt("001")
    texts = _texts("contract-conversation")
    battery = [
        texts[link_id]
        for link_id in (
            "what-matters",
            "shared-goal",
            "own-part",
            "has-fixed-contact",
            "has-fixed-doctor",
            "knows-next-step",
            "has-plan-overview",
            "wants-coordination",
        )
    ]
    where = [seed.find(text) for text in battery]
    assert -1 not in where and where == sorted(where), dict(zip(battery, where, strict=True))
    assert f"{texts['wants-coordination']} ({texts['fixed-contact-proposal']})" in seed


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed documents are not on this machine (FHIRBRIDGE_SEEDS)")
@pytest.mark.parametrize("excerpt", sorted(p.name for p in EXCERPTS.glob("*.txt")))
def test_the_excerpts_are_the_seeds_own_lines(excerpt: str) -> None:
    seed = next(SEEDS.glob(f"{excerpt[:3]}_*.txt")).read_text(encoding="utf-8")
    assert (EXCERPTS / excerpt).read_text(encoding="utf-8") in seed


def test_no_questionnaire_repeats_a_link_id() -> None:
    distinct = "descendants().linkId.isDistinct()"  # R4 invariant que-2, which Medplum does not check
    questionnaires = registry().of_type("Questionnaire")
    assert {q["id"] for q in questionnaires} == set(EXPECTED)
    for questionnaire in questionnaires:
        link_ids = [item["linkId"] for item, _ in _items(questionnaire["item"])]
        assert len(link_ids) == len(set(link_ids)), questionnaire["id"]
        assert fhirpathpy.evaluate(questionnaire, distinct) == [True], questionnaire["id"]
    repeated = _questionnaire("contract-conversation")
    repeated = dict(repeated, item=[*repeated["item"], dict(repeated["item"][0])])
    assert fhirpathpy.evaluate(repeated, distinct) == [False]


def test_every_questionnaire_meets_r4s_required_bindings() -> None:
    for questionnaire in registry().of_type("Questionnaire"):
        assert check_json_form(questionnaire).issues == [], questionnaire["id"]


async def test_questionnaires_are_found_by_url_and_name(client: httpx.AsyncClient) -> None:
    url = f"{BASE}/Questionnaire/seven-questions-staff"
    by_url = (await client.get("/fhir/Questionnaire", params={"url": url})).json()
    assert [e["resource"]["id"] for e in by_url["entry"]] == ["seven-questions-staff"]
    versioned = (await client.get("/fhir/Questionnaire", params={"url": f"{url}|0.1.0"})).json()
    assert versioned["total"] == 1
    by_name = (await client.get("/fhir/Questionnaire", params={"name": "sevenquestions"})).json()
    assert sorted(e["resource"]["id"] for e in by_name["entry"]) == ["seven-questions-patient", "seven-questions-staff"]
    everything = (await client.get("/fhir/Questionnaire")).json()
    assert everything["total"] == len(EXPECTED)
    assert (await client.get("/fhir/Questionnaire", params={"url": f"{BASE}/Questionnaire/x"})).json()["total"] == 0
    outcome(await client.get("/fhir/Questionnaire/finns-inte"), 404)


async def test_the_capability_statement_lists_questionnaires_as_read_only(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Questionnaire")
    assert [i["code"] for i in entry["interaction"]] == ["read", "search-type"]
    assert {p["name"]: p["definition"] for p in entry["searchParam"]} == {
        "url": "http://hl7.org/fhir/SearchParameter/Questionnaire-url",
        "_id": "http://hl7.org/fhir/SearchParameter/Resource-id",
        "name": "http://hl7.org/fhir/SearchParameter/Questionnaire-name",
    }


async def test_a_questionnaire_cannot_be_written(client: httpx.AsyncClient) -> None:
    original = _questionnaire("seven-questions-patient")
    changed = dict(original, status="retired")
    refused = [
        await client.post("/fhir/Questionnaire", json=changed),
        await client.put("/fhir/Questionnaire/seven-questions-patient", json=changed),
        await client.delete("/fhir/Questionnaire/seven-questions-patient"),
    ]
    for response in refused:
        assert "read-only" in outcome(response, 405)["issue"][0]["diagnostics"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": changed, "request": {"method": "PUT", "url": "Questionnaire/seven-questions-patient"}}],
    }
    outcome(await client.post("/fhir", json=bundle), 400)
    assert (await client.get("/fhir/Questionnaire/seven-questions-patient")).json() == original

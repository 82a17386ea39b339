"""The demo data is what a patient contract looks like, and passes validation."""

from __future__ import annotations

from collections import Counter
from datetime import date

from fhirbridge.demo.generator import demo_resources
from fhirbridge.sweden.identifiers import is_valid_hsa_id, is_valid_personnummer, is_valid_samordningsnummer
from fhirbridge.validation.pipeline import validate_resource


def test_every_demo_resource_validates() -> None:
    resources = list(demo_resources(17, today=date(2026, 11, 22)))
    for resource in resources:
        validate_resource(dict(resource), resource["resourceType"], url_id=resource["id"], local_base=None)
    counts = Counter(r["resourceType"] for r in resources)
    assert counts["Patient"] == 17 + 2 and counts["Goal"] == 34 and counts["CareTeam"] == 17  # 2 declined offers


def test_identifiers_are_real_swedish_identifiers() -> None:
    for resource in demo_resources(17, today=date(2026, 11, 22)):
        for identifier in resource.get("identifier", []):
            system, value = identifier["system"], identifier["value"]
            if system.endswith("personnummer"):
                assert is_valid_personnummer(value)
            elif system.endswith("samordningsnummer"):
                assert is_valid_samordningsnummer(value)
            elif system == "urn:oid:1.2.752.29.4.19":
                assert is_valid_hsa_id(value)


def test_each_contract_has_every_part_the_agreement_asks_for() -> None:
    resources = {f"{r['resourceType']}/{r['id']}": r for r in demo_resources(4, today=date(2026, 11, 22))}
    contracts = [
        r for r in resources.values() if r["resourceType"] == "CarePlan" and r["id"].startswith("demo-contract")
    ]
    assert len(contracts) == 4
    for contract in contracts:
        kinds = {a["detail"]["code"]["coding"][0]["code"] for a in contract["activity"]}
        assert kinds == {"egen-insats", "egenvard", "vardens-insats", "nar-soka-vard", "kontaktvag", "nasta-kontakt"}
        team = resources[contract["careTeam"][0]["reference"]]
        roles = [p["role"][0]["coding"][0]["code"] for p in team["participant"]]
        assert roles.count("fast-vardkontakt") == 1
        goals = [resources[g["reference"]] for g in contract["goal"]]
        assert any(g["expressedBy"]["reference"] == contract["subject"]["reference"] for g in goals)
        next_contact = next(
            a for a in contract["activity"] if a["detail"]["code"]["coding"][0]["code"] == "nasta-kontakt"
        )
        assert next_contact["detail"]["scheduledPeriod"]["start"] > "2026-11-22"


def test_every_demo_patient_is_another_person() -> None:
    """One person, one Patient: the demo (and the benchmarks' seed) never repeats a number."""
    numbers = [
        identifier["value"]
        for resource in demo_resources(20_000, today=date(2026, 11, 22))
        if resource["resourceType"] == "Patient"
        for identifier in resource["identifier"]
    ]
    assert len(numbers) == len(set(numbers)) == 20_000 + 20_000 // 8  # and those who declined an offer


def test_the_follow_up_is_worth_reporting_on() -> None:
    """Each patient has a main condition; four in five answer the seven questions about their
    fixed care contact's unit, and each such unit's staff answer too, more than the report's
    smallest shown cell (5) in every unit at ``make run``'s 40 patients."""
    resources = list(demo_resources(40, today=date(2026, 11, 22)))
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    assert sorted(c["subject"]["reference"] for c in conditions) == sorted(
        f"Patient/{r['id']}" for r in resources if r["id"].startswith("demo-patient-")
    )
    answers = [r for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    by_unit: Counter[tuple[str, str]] = Counter(
        (r["questionnaire"].rsplit("-", 1)[-1], r["extension"][0]["valueReference"]["reference"]) for r in answers
    )
    units = {unit for _, unit in by_unit}
    assert len(units) == 4
    assert all(by_unit[(kind, unit)] >= 5 for kind in ("patient", "staff") for unit in units), by_unit
    assert all(r["authored"] < "2026-11-22" and len(r["item"]) == 7 for r in answers)


def test_a_few_patients_declined_the_offer_of_a_contract() -> None:
    """Seed 001: a declined offer is documented, with when the need for a fixed care contact is
    re-assessed; the report counts them per unit."""
    resources = list(demo_resources(40, today=date(2026, 11, 22)))
    offers = [r for r in resources if r["id"].startswith("demo-declined-offer-")]
    assert len(offers) == 5
    patients = {f"Patient/{r['id']}" for r in resources if r["resourceType"] == "Patient"}
    for offer in offers:
        assert (offer["status"], offer["intent"]) == ("revoked", "proposal")
        assert offer["subject"]["reference"] in patients
        assert {e["url"].rsplit("/", 1)[-1] for e in offer["extension"]} == {
            "offer-declined",
            "fixed-contact-reassessment",
        }
        validate_resource(dict(offer), "CarePlan", url_id=offer["id"], local_base=None)

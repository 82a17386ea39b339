"""``Measure/{id}/$evaluate-measure`` against the hand-counted region of conftest.py: the same
figures as the report (hand-counted in test_report.py), suppressed the same way (a hidden count
is absent with a data-absent-reason, never 0), with the report's access, and OperationOutcomes
for the unknown measure, the malformed period and the patient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.report.measures import DATA_ABSENT
from tests.report.conftest import _client, _settings, clinician, patient_token, service
from tests.report.test_report import assert_near
from tests.security.tokens import SigningKey

YEAR = {"periodStart": "2026-01-01", "periodEnd": "2026-04-30"}
"""The region's tertial (2026-T1), as dates."""


async def evaluate(
    http: httpx.AsyncClient, measure: str, headers: dict[str, str], expected: int = 200, **params: str
) -> dict[str, Any]:
    answer = await http.get(f"/fhir/Measure/{measure}/$evaluate-measure", params=params, headers=headers)
    assert answer.status_code == expected, answer.text
    body: dict[str, Any] = answer.json()
    return body


def counts(report: dict[str, Any]) -> dict[str, int | None]:
    return {p["code"]["coding"][0]["code"]: p.get("count") for p in report["group"][0]["population"]}


async def test_the_contract_measures_match_the_hand_count(exact: httpx.AsyncClient, key: SigningKey) -> None:
    report = await evaluate(exact, "contract-patients-fixed-contact", service(key), **YEAR)
    assert report["resourceType"] == "MeasureReport" and report["status"] == "complete"
    assert report["type"] == "summary"
    assert report["measure"] == "https://fhirbridge.se/fhir/Measure/contract-patients-fixed-contact|0.1.0"
    assert report["period"] == {"start": "2026-01-01", "end": "2026-04-30"}
    assert "reporter" not in report
    assert counts(report) == {"initial-population": 14, "denominator": 14, "numerator": 10}
    assert report["group"][0]["measureScore"] == {"value": 0.7143}
    ahead = await evaluate(exact, "contract-patients-next-contact", service(key), **YEAR)
    assert counts(ahead) == {"initial-population": 14, "denominator": 14, "numerator": 9}
    unit = await evaluate(exact, "contract-patients-fixed-contact", service(key), subject="Organization/org-b", **YEAR)
    assert unit["reporter"] == {"reference": "Organization/org-b"}
    assert counts(unit) == {"initial-population": 6, "denominator": 6, "numerator": 3}  # p8-p10 of p8-p13
    tertial_before = {"periodStart": "2025-09", "periodEnd": "2025-12"}
    assert counts(await evaluate(exact, "contract-patients-next-contact", service(key), **tertial_before)) == {
        "initial-population": 0,
        "denominator": 0,
        "numerator": 0,
    }


async def test_a_small_count_is_masked_never_zero(region: httpx.AsyncClient, key: SigningKey) -> None:
    whole = await evaluate(region, "contract-patients-fixed-contact", service(key), **YEAR)
    # The home care's one patient is left out (a unit's tertial of 1); 10 of 13: the 3 without a
    # fixed care contact would be a small cell, so the numerator is masked.
    assert_near(counts(whole), {"initial-population": 13, "denominator": 13, "numerator": None})
    assert whole["group"][0]["population"][2]["_count"]["extension"][0]["valueCode"] == "masked"
    assert whole["group"][0]["measureScore"]["extension"][0]["valueCode"] == "masked"
    ahead = await evaluate(region, "contract-patients-next-contact", service(key), **YEAR)  # 9 of 13: 4 without
    assert_near(counts(ahead), {"initial-population": 13, "denominator": 13, "numerator": None})
    doctor = await evaluate(
        region, "contract-patients-fixed-contact", service(key), subject="Organization/org-a", **YEAR
    )
    assert_near(counts(doctor), {"initial-population": 7, "denominator": 7, "numerator": 7})
    small = await evaluate(
        region, "contract-patients-fixed-contact", service(key), subject="Organization/org-hemsjukvard", **YEAR
    )
    group = small["group"][0]
    for population in group["population"]:
        assert "count" not in population
        assert population["_count"]["extension"] == [{"url": DATA_ABSENT, "valueCode": "masked"}]
    assert "value" not in group["measureScore"]
    assert group["measureScore"]["extension"][0]["valueCode"] == "masked"


async def test_the_seven_questions_are_stratified_by_respondent_and_question(
    region: httpx.AsyncClient, key: SigningKey
) -> None:
    report = await evaluate(region, "seven-questions-yes", service(key), **YEAR)
    stratifier = report["group"][0]["stratifier"][0]
    assert stratifier["code"] == [{"text": "respondent-question"}]
    if any("_count" in s["population"][2] for s in stratifier["stratum"]):  # a masked numerator is not summed
        assert "count" not in report["group"][0]["population"][2]
    for stratum in stratifier["stratum"]:  # none until QuestionnaireResponse is stored (main)
        assert [c["code"]["text"] for c in stratum["component"]] == ["respondent", "question"]
        assert all(p.get("count", 0) != 0 or "_count" in p for p in stratum["population"][:2])


async def test_refusals_are_operation_outcomes(region: httpx.AsyncClient, key: SigningKey) -> None:
    async def refused(measure: str, status: int, headers: dict[str, str], **params: str) -> list[str]:
        outcome = await evaluate(region, measure, headers, status, **params)
        assert outcome["resourceType"] == "OperationOutcome"
        return list(outcome["issue"][0].get("expression", []))

    assert await refused("no-such-measure", 404, service(key), **YEAR) == []
    assert await refused("contract-patients-fixed-contact", 400, service(key), periodStart="2026-13-01",
                         periodEnd="2026-12-31") == ["periodStart"]  # fmt: skip
    assert await refused("contract-patients-fixed-contact", 400, service(key), periodStart="2026") == ["periodEnd"]
    assert await refused("contract-patients-fixed-contact", 400, service(key), periodStart="2026-06",
                         periodEnd="2026-01") == ["periodEnd"]  # fmt: skip
    assert await refused(
        "contract-patients-fixed-contact", 400, service(key), periodStart="2026-02", periodEnd="2026-02"
    ) == ["periodEnd"]  # fmt: skip  (a month: not a published period)
    assert await refused("contract-patients-fixed-contact", 400, service(key), subject="Organization/nowhere",
                         **YEAR) == ["subject"]  # fmt: skip
    assert await refused("contract-patients-fixed-contact", 400, service(key), reportType="subject-list",
                         **YEAR) == ["reportType"]  # fmt: skip
    await refused("contract-patients-fixed-contact", 403, patient_token(key), **YEAR)
    await refused("contract-patients-fixed-contact", 403, clinician(key, "org-a"), subject="Organization/org-b", **YEAR)
    assert (await region.get("/fhir/Measure/seven-questions-yes/$evaluate-measure", params=YEAR)).status_code == 401


async def test_a_unit_evaluates_its_own_figures(exact: httpx.AsyncClient, key: SigningKey) -> None:
    own = await evaluate(exact, "contract-patients-fixed-contact", clinician(key, "org-a"), **YEAR)
    assert counts(own) == {"initial-population": 7, "denominator": 7, "numerator": 7}


@pytest.mark.skipif("Measure" not in STORED_TYPES, reason="Measure is a stored type on main, not yet on report")
async def test_the_capability_statement_lists_the_operation(region: httpx.AsyncClient) -> None:
    statement = (await region.get("/fhir/metadata")).json()
    measure = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Measure")
    listed = {o["name"]: o["definition"] for o in measure["operation"]}
    assert listed["evaluate-measure"] == "https://fhirbridge.se/fhir/OperationDefinition/Measure-evaluate-measure"
    definition = await region.get("/fhir/OperationDefinition/Measure-evaluate-measure")
    assert definition.status_code == 200 and definition.json()["code"] == "evaluate-measure"


async def test_the_shipped_measures_are_installed_at_start(database_url: str, jwks: Path, key: SigningKey) -> None:
    """A server that brings its database up to date writes the shipped Measures when absent:
    readable and searchable like any Measure; a second start writes nothing again."""
    settings = _settings(database_url, jwks, 5).model_copy(update={"auto_migrate": True})
    for start in (1, 2):
        async for http in _client(settings):
            for measure in ("contract-patients-fixed-contact", "contract-patients-next-contact", "seven-questions-yes"):
                stored = await http.get(f"/fhir/Measure/{measure}", headers=service(key))
                assert stored.status_code == 200, stored.text
                assert stored.json()["meta"]["versionId"] == "1", start
            url = "https://fhirbridge.se/fhir/Measure/seven-questions-yes"
            found = await http.get("/fhir/Measure", params={"url": url}, headers=service(key))
            assert [e["resource"]["id"] for e in found.json()["entry"]] == ["seven-questions-yes"]

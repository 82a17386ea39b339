"""The report identifies no patient, not even beside another report (review 11's findings), on
SQLite and PostgreSQL: differencing two overlapping reports (R1), a unit against its caregiver
(R2), a rate's small numerator or complement and day-sized periods (R4), malformed periods
(L1) and a parent unit as ``$evaluate-measure``'s subject (L2)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import httpx

from fhirbridge.report.cellkey import RANGE, Tally, perturb
from fhirbridge.report.facts import ANSWERED_FOR_UNIT, QUESTIONNAIRES
from tests.report import conftest as region_data
from tests.report.conftest import clinician, service
from tests.report.test_report import cells, report, shares
from tests.security.tokens import SigningKey

PATIENT_FIGURES = ("patients_by_age_band", "patients_by_sex", "patients_by_municipal_care")
MEASURE = "/fhir/Measure/contract-patients-fixed-contact/$evaluate-measure"
SEVEN = "/fhir/Measure/seven-questions-yes/$evaluate-measure"


def _difference(wide: dict[str, Any], narrow: dict[str, Any], name: str) -> dict[str, int] | None:
    """Cell by cell, the wide report's count minus the narrow one's (None: a cell is hidden)."""
    a, b = cells(wide, name), cells(narrow, name)
    if any(a.get(k) is None or b.get(k, 0) is None for k in a):
        return None
    return {k: int(a[k] or 0) - int(b.get(k) or 0) for k in a}


def _gives_away_one_patient(wide: dict[str, Any], narrow: dict[str, Any]) -> bool:
    """Whether the two reports differ by exactly one patient in every patient figure: a total
    one apart and one cell one apart, the rest equal — the attributes of that one patient."""
    for name in PATIENT_FIGURES:
        found = _difference(wide, narrow, name)
        if found is None:
            continue
        if found.pop("total") != 1 or sorted(found.values(), reverse=True)[:2] != [1, 0] or min(found.values()) < 0:
            return False
    return True


async def test_r1_two_overlapping_reports_do_not_give_away_the_one_patient_between_them(
    region: httpx.AsyncClient, key: SigningKey
) -> None:
    """The whole region (14 contract patients) against the region without the municipality, and
    against January-February (13 each): the one patient between them is p14."""
    whole = await report(region, service(key))
    for narrower in ({"caregiver": "org-region"}, {"period": "2026-01/2026-02"}):
        assert not _gives_away_one_patient(whole, await report(region, service(key), **narrower)), narrower


async def test_r1_a_day_longer_period_is_refused_not_differenced(region: httpx.AsyncClient, key: SigningKey) -> None:
    for end in ("2026-03-04", "2026-03-05"):
        answer = await region.get(MEASURE, params={"periodStart": "2026-01-01", "periodEnd": end}, headers=service(key))
        assert answer.status_code == 400, answer.text
        assert answer.json()["issue"][0]["expression"] == ["periodEnd"]
    whole_months = {"periodStart": "2026-01-01", "periodEnd": "2026-03-31"}
    assert (await region.get(MEASURE, params=whole_months, headers=service(key))).status_code == 200


def test_r1_differencing_recovers_a_patient_at_chance_level_only() -> None:
    """The cell-key method itself, over many secrets (record keys): one table of 14 patients in
    two cells and the same without one patient.  Without noise the difference always names the
    patient's cell; with it the attacker's best guess is right far from always and never sure."""
    rng = random.Random(13)
    certain = right = 0
    trials = 2000
    for _ in range(trials):
        keys = [rng.randrange(RANGE) for _ in range(14)]
        cell_of = [0] * 5 + [1] * 9  # the 75-84 band holds the patient left out (the last)
        tables = []
        for members in (range(14), range(13)):
            tallies = [Tally(0), Tally(0)]
            for index in members:
                tallies[cell_of[index]] += Tally(1, keys[index])
            tables.append([perturb(t, 5) for t in tallies])
        difference = [tables[0][c] - tables[1][c] for c in (0, 1)]
        certain += difference == [0, 1]
        right += difference[1] > difference[0]
    assert certain / trials < 0.5  # without noise: 1.0
    assert right / trials < 0.8


async def test_r2_a_unit_cannot_be_worked_out_from_its_caregiver(region: httpx.AsyncClient, key: SigningKey) -> None:
    """A third caregiver (5 contracts) and a second municipal unit (6) beside the home care (1):
    the home care's 1 must not be its caregiver's count minus the municipality's other unit."""
    added: list[dict[str, Any]] = [
        region_data._org("org-h", "Privat Hälsa", region_data.REGION, "PH"),
        region_data._org("org-hemtjanst", "Hemtjänst Testby", region_data.KOMMUN, "KT", "org-kommun"),
        region_data._role("role-h", "org-h"),
        region_data._role("role-t", "org-hemtjanst"),
    ]
    for i in range(16, 27):
        author = "role-h" if i < 21 else "role-t"
        added += [
            region_data.patient(i, date(1950, 6, 15), i % 2 == 0),
            region_data.goal(i),
            region_data._team(i),
            region_data.contract(i, author, "2026-02-20", next_time=region_data.FUTURE),
        ]
    entries = [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in added]
    written = await region.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
                                headers=service(key))  # fmt: skip
    assert written.status_code == 200, written.text
    body = await report(region, service(key))
    units, caregivers = cells(body, "contracts_by_unit"), cells(body, "contracts_by_caregiver")
    assert units["org-hemsjukvard"] is None
    members = {
        "org-kommun": ("org-hemsjukvard", "org-hemtjanst"),
        "org-region": ("org-a", "org-b"),
        "org-h": ("org-h",),
    }
    for caregiver, its_units in members.items():
        hidden = [u for u in its_units if units.get(u, 0) is None]
        if caregivers.get(caregiver) is not None and hidden:
            assert len(hidden) >= 2, (caregiver, units, caregivers)  # its shown units leave two unknowns


def _seven(rid: str, patient: str, authored: str, no: tuple[str, ...] = ()) -> dict[str, Any]:
    url = next(u for u, kind in QUESTIONNAIRES.items() if kind == "patient")
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "extension": [{"url": ANSWERED_FOR_UNIT, "valueReference": {"reference": "Organization/org-a"}}],
        "questionnaire": url,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "author": {"reference": f"Patient/{patient}"},
        "authored": authored,
        "item": [{"linkId": f"q{n}", "answer": [{"valueBoolean": f"q{n}" not in no}]} for n in range(1, 8)],
    }


async def test_r4_a_small_numerator_or_complement_hides_the_rate(region: httpx.AsyncClient, key: SigningKey) -> None:
    """Five patients of unit A answer in November; the fifth says no to q3 and q6.  Four yes of
    five would tell the unit what the fifth said; so would a period one day shorter."""
    for i in range(1, 6):
        no = ("q3", "q6") if i == 5 else ()
        response = _seven(f"nov-{i}", f"p{i}", f"2026-11-0{i + 1}T10:00:00+01:00", no)
        answer = await region.put(f"/fhir/QuestionnaireResponse/nov-{i}", json=response, headers=service(key))
        assert answer.status_code in (200, 201), answer.text
    november = await report(region, clinician(key, "org-a"), period="2026-11")
    by_unit = shares(november, "questions_yes_by_unit")
    for question in ("q3", "q6"):
        numerator, denominator = by_unit[f"org-a|patient|{question}"]
        assert numerator is None and denominator is not None, (question, by_unit)
    assert by_unit["org-a|patient|q1"][0] == by_unit["org-a|patient|q1"][1]  # all five said yes: shown
    overall = shares(november, "questions_yes")
    assert overall["patient|q3"][0] is None
    november_only = {"periodStart": "2026-11", "periodEnd": "2026-11"}
    measured = await region.get(SEVEN, params=november_only, headers=clinician(key, "org-a"))
    group = measured.json()["group"][0]
    strata = {tuple(c["value"]["text"] for c in s["component"]): s for s in group["stratifier"][0]["stratum"]}
    assert "count" not in strata[("patient", "q3")]["population"][2]
    assert "count" not in group["population"][2]  # a masked numerator is not summed into the whole
    for period in ("2026-11-06/2026-11-30", "2026-11-07/2026-11-30", "2026-11-02/2026-11-06"):
        answer = await region.get("/report", params={"period": period}, headers=clinician(key, "org-a"))
        assert answer.status_code == 400, period
        assert answer.json()["issue"][0]["expression"] == ["period"]


async def test_l1_periods_out_of_range_are_400_naming_the_parameter(region: httpx.AsyncClient, key: SigningKey) -> None:
    for period in ("9999", "0001", "2026/9999-12-31", "2026/9999", "\uff12\uff10\uff12\uff16"):
        answer = await region.get("/report", params={"period": period}, headers=service(key))
        assert answer.status_code == 400, (period, answer.text)
        assert answer.json()["issue"][0]["expression"] == ["period"]
    for start, end, name in (("2026", "9999", "periodEnd"), ("0001", "2026", "periodStart")):
        answer = await region.get(MEASURE, params={"periodStart": start, "periodEnd": end}, headers=service(key))
        assert answer.status_code == 400, (start, end, answer.text)
        assert answer.json()["issue"][0]["expression"] == [name]


async def test_l2_a_unit_cannot_report_as_its_parent(region: httpx.AsyncClient, key: SigningKey) -> None:
    """A clinician of unit A asks for the region (A's parent): a 403, never A's figures under the
    region's name; A's own figures it reads as A."""
    year = {"periodStart": "2026", "periodEnd": "2026"}
    parent = await region.get(MEASURE, params={**year, "subject": "Organization/org-region"},
                              headers=clinician(key, "org-a"))  # fmt: skip
    assert parent.status_code == 403, parent.text
    assert parent.json()["resourceType"] == "OperationOutcome"
    assert (
        await region.get("/report", params={"unit": "org-region"}, headers=clinician(key, "org-a"))
    ).status_code == 403
    own = await region.get(MEASURE, params={**year, "subject": "Organization/org-a"}, headers=clinician(key, "org-a"))
    assert own.status_code == 200 and own.json()["reporter"] == {"reference": "Organization/org-a"}


async def test_one_unit_or_one_caregiver_at_a_time(region: Any, key: SigningKey) -> None:
    """Review 14 (HIGH 2): averaging ``total(S+T) - total(S)`` over many unions S of units
    recovered a hidden unit's count of 1-4; unions are no longer asked for."""
    for params in ({"unit": ["org-a", "org-b"]}, {"unit": "org-a", "caregiver": "org-region"}):
        answer = await region.get("/report", params={"format": "json", **params}, headers=service(key))
        assert answer.status_code == 400, answer.text
        assert answer.json()["issue"][0]["expression"] in (["unit"], ["caregiver"])

"""The report identifies no patient, not even beside another report (review 11's findings), on
SQLite and PostgreSQL: differencing two overlapping reports (R1), a unit against its caregiver
(R2), a rate's small numerator or complement and day-sized periods (R4), malformed periods
(L1) and a parent unit as ``$evaluate-measure``'s subject (L2)."""

from __future__ import annotations

import json
import random
from datetime import date, datetime
from typing import Any

import httpx

from fhirbridge.fhir.instants import now_us
from fhirbridge.report.cellkey import MAX_NOISE, RANGE, Tally, perturb
from fhirbridge.report.engine import build_report
from fhirbridge.report.facts import ANSWERED_FOR_UNIT, QUESTIONNAIRES
from fhirbridge.report.figures import counts
from fhirbridge.report.filters import SWEDEN, parse_filters
from fhirbridge.report.render import to_json
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
    one apart and one cell one apart, the rest equal — the attributes of that one patient (a
    figure hidden in either tells nothing)."""
    compared = 0
    for name in PATIENT_FIGURES:
        found = _difference(wide, narrow, name)
        if found is None:
            continue
        compared += 1
        if found.pop("total") != 1 or sorted(found.values(), reverse=True)[:2] != [1, 0] or min(found.values()) < 0:
            return False
    return compared > 0


async def test_r1_two_overlapping_reports_do_not_give_away_the_one_patient_between_them(
    region: httpx.AsyncClient, key: SigningKey
) -> None:
    """The whole region (14 contract patients) against the region without the municipality (13):
    the one patient between them is p14.  Review 15 recovered p14's attributes by averaging such
    pairs; now p14's unit holds one contract in the tertial, an atom too small to count, so the
    two reports count the same patients and publish the same patient figures."""
    whole = await report(region, service(key))
    narrower = await report(region, service(key), caregiver="org-region")
    assert not _gives_away_one_patient(whole, narrower)
    for name in (*PATIENT_FIGURES, "patients_by_condition_chapter", "patients_with_fixed_contacts"):
        assert _figure(whole, name) == _figure(narrower, name), name
    assert whole["leftOutUnits"] == ["org-a", "org-hemsjukvard"]  # A's one declined offer too


def _figure(body: dict[str, Any], name: str) -> Any:
    return next(f for f in body["figures"] if f["name"] == name)


async def test_r1_a_year_and_its_tertial_differ_by_whole_atoms_only(region: httpx.AsyncClient, key: SigningKey) -> None:
    """Review 15: a year against one of its tertials differs by the other tertials' records; when
    those are one patient, the pair gives the patient away.  Unit B: six contracts in 2025-T1
    and one in 2025-T2.  The year counts B's T1 only, exactly as the tertial does: the same
    records, the same published figures, nothing between them."""
    added: list[dict[str, Any]] = []
    for i in range(40, 47):
        added += [
            region_data.patient(i, date(1950, 6, 15), i % 2 == 0),
            region_data.goal(i),
            region_data._team(i),
            region_data.contract(i, "role-b", "2025-06-10" if i == 46 else "2025-02-10", next_time=region_data.FUTURE),
        ]
    await _put(region, key, added)
    year = await report(region, service(key), period="2025", unit="org-b")
    tertial = await report(region, service(key), period="2025-T1", unit="org-b")
    assert year["leftOutUnits"] == ["org-b"] and tertial["leftOutUnits"] == []
    assert year["figures"] == tertial["figures"]
    assert cells(year, "contracts_by_unit")["org-b"] in range(6 - MAX_NOISE, 7 + MAX_NOISE)


async def _put(http: httpx.AsyncClient, key: SigningKey, resources: list[dict[str, Any]]) -> None:
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    written = await http.post("/fhir", json=bundle, headers=service(key))
    assert written.status_code == 200, written.text


async def test_r1_only_tertials_and_years_are_asked_for(region: httpx.AsyncClient, key: SigningKey) -> None:
    """Reviews 14 and 15: any run of months let a reader ask for reports that differ by one
    patient, or for many that hold the same cell beside different others.  Tertials nest in years
    and in nothing else."""
    refused = ("2026-01/2026-02", "2026-03", "2026-Q1", "2026-H1", "2026-01/2026-06", "2026-02/2026-05", "2026-T4")
    for period in refused:
        answer = await region.get("/report", params={"period": period}, headers=service(key))
        assert answer.status_code == 400, (period, answer.text)
        assert answer.json()["issue"][0]["expression"] == ["period"]
    for period in ("2026-T1", "2025-T3", "2025", "2026-01/2026-04", "2026-05-01/2026-08-31"):
        answer = await region.get("/report", params={"period": period}, headers=service(key))
        assert answer.status_code == 200, (period, answer.text)
    twice = await region.get("/report?period=2026-T1&period=2025-T3", headers=service(key))
    assert twice.status_code == 400 and twice.json()["issue"][0]["expression"] == ["period"]
    two_months = {"periodStart": "2026-01", "periodEnd": "2026-02"}
    refused_measure = await region.get(MEASURE, params=two_months, headers=service(key))
    assert refused_measure.status_code == 400 and refused_measure.json()["issue"][0]["expression"] == ["periodEnd"]


def _running_year() -> str:
    return str(datetime.now(SWEDEN).year + 1)


async def test_r1_a_report_is_made_once_for_an_ended_period_and_kept(
    region: httpx.AsyncClient, exact: httpx.AsyncClient, key: SigningKey
) -> None:
    """Reviews 14-16: a reader who watches the report while records are written, or asks again
    each month, learns what each record changed.  A period that has not ended is a 400; its
    records are frozen when it is first reported on, and a report is made once for its units and
    period and returned unchanged ever after, whatever is written later and whatever the
    directory gains."""
    running = await region.get("/report", params={"period": _running_year()}, headers=service(key))
    assert running.status_code == 400 and running.json()["issue"][0]["expression"] == ["period"]
    measured = await region.get(MEASURE, params={"periodStart": _running_year(), "periodEnd": _running_year()},
                                headers=service(key))  # fmt: skip
    assert measured.status_code == 400 and measured.json()["issue"][0]["expression"] == ["periodEnd"]

    params = {"format": "json", "period": "2026-T1", "caregiver": "org-region"}
    before = await region.get("/report", params=params, headers=service(key))
    exact_before = await report(exact, service(key), caregiver="org-region")
    late = [
        region_data.patient(30, date(1950, 6, 15), True),
        region_data.goal(30),
        region_data._team(30),
        region_data.contract(30, "role-b", "2026-02-11", next_time=region_data.FUTURE),  # a late entry
        region_data._org("org-b2", "Vårdcentralen B, filial", region_data.REGION, "VB2", "org-b"),  # a new unit below
    ]
    await _put(region, key, late)
    after = await region.get("/report", params=params, headers=service(key))
    assert after.text == before.text  # the same release: nothing to compare
    exact_after = await report(exact, service(key), caregiver="org-region")  # unreleased, but frozen
    assert exact_after["figures"] == exact_before["figures"]
    stored = await region.get("/fhir/CarePlan/contract-30", headers=service(key))
    assert stored.status_code == 200  # the late entry is stored; the tertial was frozen before it

    database = region._transport.app.state.context.repository.database  # type: ignore[attr-defined]
    months_later = now_us() + 90 * 86_400_000_000
    filters = parse_filters("2026-T1", caregiver="org-region")
    kept = await build_report(database, filters, readable=lambda _: None, now_us=months_later, minimum=5)
    assert json.loads(to_json(kept)) == before.json()


def to_body_json(report_: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(to_json(report_))
    return body


def _figure_of(population: dict[str, list[int]], minimum: int) -> dict[tuple[str, ...], int | None]:
    """The published cells of a figure whose cells hold the given record keys."""
    values = {(name,): sum((Tally(1, k) for k in keys), Tally(0)) for name, keys in population.items()}
    figure = counts("patients_by_condition_chapter", "", ("chapter",), "patients", values, {}, minimum, perturbed=True)
    return {cell.key: cell.count for cell in figure.cells}


def test_r1_one_patient_more_gives_every_cell_new_noise() -> None:
    """Review 14: with the census tables' cell keys, a cell whose records did not change keeps
    its value, so two reports one patient apart tell which cells that patient is in.  Here the
    figure's population moves every cell's key: over many secrets the cells without the patient
    keep their values together rarely (by chance), not always."""
    rng = random.Random(14)
    unchanged = 0
    trials = 2000
    for _ in range(trials):
        population = {name: [rng.randrange(RANGE) for _ in range(size)] for name, size in
                      (("IV", 9), ("IX", 12), ("X", 7), ("XIII", 15))}  # fmt: skip
        before = _figure_of(population, 5)
        population["IX"].append(rng.randrange(RANGE))  # the patient
        after = _figure_of(population, 5)
        unchanged += all(before[(c,)] == after[(c,)] for c in ("IV", "X", "XIII"))
    assert unchanged / trials < 0.1  # with the census tables' keys alone: 1.0


def test_zeros_of_patients_attributes_are_hidden() -> None:
    """Review 14: a published 0 beside one full cell says what every patient of the unit is."""
    values = {("female",): Tally(12, 7), ("male",): Tally(0), ("other",): Tally(0), ("unknown",): Tally(0)}
    kept = counts("patients_by_sex", "", ("sex",), "patients", values, {}, 5, perturbed=False, attributes=True)
    assert [cell.count for cell in kept.cells] == [None, None, None, None] and kept.total == 12
    plain = counts("contracts_by_unit", "", ("unit",), "contracts", values, {}, 5, perturbed=False)
    assert [cell.count for cell in plain.cells] == [12, 0, 0, 0]  # counts of contracts keep their zeros


async def test_r1_a_day_longer_period_is_refused_not_differenced(region: httpx.AsyncClient, key: SigningKey) -> None:
    for end in ("2026-03-04", "2026-03-05"):
        answer = await region.get(MEASURE, params={"periodStart": "2026-01-01", "periodEnd": end}, headers=service(key))
        assert answer.status_code == 400, answer.text
        assert answer.json()["issue"][0]["expression"] == ["periodEnd"]
    whole_months = {"periodStart": "2026-01-01", "periodEnd": "2026-04-30"}
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
    assert "org-hemsjukvard" not in units and "org-hemsjukvard" in body["leftOutUnits"]  # its one: left out
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
    """Five patients of unit A answer in June (2026-T2); the fifth says no to q3 and q6.  Four yes
    of five would tell the unit what the fifth said; so would a period one day shorter."""
    for i in range(1, 6):
        no = ("q3", "q6") if i == 5 else ()
        response = _seven(f"nov-{i}", f"p{i}", f"2026-06-0{i + 1}T10:00:00+02:00", no)
        answer = await region.put(f"/fhir/QuestionnaireResponse/nov-{i}", json=response, headers=service(key))
        assert answer.status_code in (200, 201), answer.text
    tertial = await report(region, clinician(key, "org-a"), period="2026-T2")
    by_unit = shares(tertial, "questions_yes_by_unit")
    for question in ("q3", "q6"):
        numerator, denominator = by_unit[f"org-a|patient|{question}"]
        assert numerator is None and denominator is not None, (question, by_unit)
    assert by_unit["org-a|patient|q1"][0] == by_unit["org-a|patient|q1"][1]  # all five said yes: shown
    overall = shares(tertial, "questions_yes")
    assert overall["patient|q3"][0] is None
    tertial_only = {"periodStart": "2026-05", "periodEnd": "2026-08"}
    measured = await region.get(SEVEN, params=tertial_only, headers=clinician(key, "org-a"))
    group = measured.json()["group"][0]
    strata = {tuple(c["value"]["text"] for c in s["component"]): s for s in group["stratifier"][0]["stratum"]}
    assert "count" not in strata[("patient", "q3")]["population"][2]
    assert "count" not in group["population"][2]  # a masked numerator is not summed into the whole
    for period in ("2026-05-06/2026-08-31", "2026-05-07/2026-08-31", "2026-06-02/2026-06-06"):
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
    year = {"periodStart": "2026-01", "periodEnd": "2026-04"}
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

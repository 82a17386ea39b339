"""Review 16: reports made at different times, over different units or periods, must differ by
whole atoms only.  Each test changes the records between two reports the way an ordinary
integration does (a contract completed, a main condition recorded, a role moved to another unit,
a patient answering five times, a patient with contracts at two units) and compares what the
reports count, without noise (minimum 5, atoms left out): never 1 to 4 patients apart."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fhirbridge.contract.codes import CONDITION_ROLE_SYSTEM
from fhirbridge.errors import FhirError
from fhirbridge.fhir.instants import now_us
from fhirbridge.report.engine import build_report
from fhirbridge.report.figures import Counts, Rates, Report
from fhirbridge.report.filters import GRACE_DAYS, parse_filters, tertials
from fhirbridge.report.freezer import freeze_due
from tests.report import conftest as region_data
from tests.report.conftest import patient_token, service
from tests.report.test_disclosure import _put, _seven
from tests.security.tokens import SigningKey

PERIOD = "2026-T1"


async def counted(http: httpx.AsyncClient, minimum: int = 5, **filters: str) -> Report:
    """The report for ``filters`` as counted (minimum 5: atoms left out), without noise."""
    database = http._transport.app.state.context.repository.database  # type: ignore[attr-defined]
    chosen = parse_filters(PERIOD, [filters["unit"]] if "unit" in filters else [], filters.get("caregiver"))
    return await build_report(database, chosen, readable=lambda _: None, now_us=now_us(), minimum=minimum, exact=True)


def total(report: Report, name: str) -> int:
    figure = report.figure(name)
    assert isinstance(figure, Counts) and figure.total is not None, name
    return figure.total


def patients(report: Report) -> int:
    return total(report, "patients_by_sex")


async def test_a_contract_completed_after_the_tertial_was_reported_on(
    region: httpx.AsyncClient, key: SigningKey
) -> None:
    """G3: unit A's report is made; p7's contract is completed; the caregiver's and unit B's
    reports are made later.  Caregiver minus B is still A: the tertial was frozen."""
    before_a = await counted(region, unit="org-a")
    plan = region_data.contract(7, "role-a", "2026-02-10", next_time=region_data.FUTURE)
    plan["status"] = "completed"
    assert (await region.put("/fhir/CarePlan/contract-7", json=plan, headers=service(key))).status_code == 200
    caregiver, unit_b = await counted(region, caregiver="org-region"), await counted(region, unit="org-b")
    assert patients(caregiver) - patients(unit_b) == patients(before_a) == 7


async def test_a_role_moved_to_another_unit_after_the_tertial_was_reported_on(
    region: httpx.AsyncClient, key: SigningKey
) -> None:
    """G4: unit B's report is made; role-b moves to unit A; the caregiver's and A's reports come
    later.  Each contract stays with the unit it had when the tertial was frozen."""
    before_b = await counted(region, unit="org-b")
    moved = region_data._role("role-b", "org-a")
    assert (await region.put("/fhir/PractitionerRole/role-b", json=moved, headers=service(key))).status_code == 200
    caregiver, unit_a = await counted(region, caregiver="org-region"), await counted(region, unit="org-a")
    assert patients(caregiver) - patients(unit_a) == patients(before_b) == 6


async def test_a_main_condition_recorded_after_the_tertial_was_reported_on(
    region: httpx.AsyncClient, key: SigningKey
) -> None:
    """F3 (review 15, revived in 16): a condition recorded between two reports moved one patient
    between chapter cells and nothing else.  The frozen tertial keeps the chapter it had."""
    before = await counted(region, 1, unit="org-a")  # every cell as counted, none hidden
    condition = {
        "resourceType": "Condition",
        "id": "main-p3",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "category": [{"coding": [{"system": CONDITION_ROLE_SYSTEM, "code": "main"}]}],
        "code": {"coding": [{"system": "urn:oid:1.2.752.116.1.1.1.1.3", "code": "I50.9"}]},
        "subject": {"reference": "Patient/p3"},
    }
    assert (await region.put("/fhir/Condition/main-p3", json=condition, headers=service(key))).status_code == 201
    region_data_wrap = region_data._org(
        "org-a-wrap", "Vårdcentralen A, ledning", region_data.REGION, "VAW", "org-region"
    )
    a_below = region_data._org("org-a", "Vårdcentralen A", region_data.REGION, "VA", "org-a-wrap")
    await _put(region, key, [region_data_wrap, a_below])
    after = await counted(region, 1, unit="org-a-wrap")  # a new unit above A: a new report, the same records
    assert after.figure("patients_by_condition_chapter") == before.figure("patients_by_condition_chapter")
    assert after.figures == before.figures


async def test_one_patient_answering_five_times_counts_once(region: httpx.AsyncClient, key: SigningKey) -> None:
    """G1: five responses by one patient made a full atom, and the unit's report published her
    answers.  A patient's latest response per unit and tertial counts; one is too few to count."""
    await _put(region, key, [_seven(f"again-{n}", "p1", f"2026-03-0{n + 2}T10:00:00+01:00", ("q3",)) for n in range(5)])
    report = await counted(region, unit="org-a")
    answered = report.figure("questions_yes_by_unit")
    assert isinstance(answered, Rates) and answered.rates == ()
    assert report.left_out_units == ("org-a",)


async def test_a_patient_with_contracts_at_two_units_counts_at_each(region: httpx.AsyncClient, key: SigningKey) -> None:
    """G2: p1-p6 get a second contract in force at unit B.  Counted once per unit, the caregiver
    minus unit B is unit A's seven, not the one patient only A has."""
    second: list[dict[str, Any]] = []
    for index in range(1, 7):
        plan = region_data.contract(index, "role-b", "2026-02-12", next_time=region_data.FUTURE)
        plan.update(id=f"second-{index}", careTeam=[{"reference": f"CareTeam/team-{index}"}])
        second.append(plan)
    await _put(region, key, second)
    caregiver, unit_b = await counted(region, caregiver="org-region"), await counted(region, unit="org-b")
    assert (patients(caregiver), patients(unit_b)) == (19, 12)
    assert patients(caregiver) - patients(unit_b) == patients(await counted(region, unit="org-a")) == 7


async def test_one_patients_five_declined_offers_do_not_fill_an_atom(
    region: httpx.AsyncClient, key: SigningKey
) -> None:
    """Review 17: the contract and declined-offer atoms counted records, so one patient's five
    declined offers at unit B were published as B's.  Atoms are sized by patients."""
    offers = []
    for n in range(5):
        offer = region_data.contract(8, "role-b", f"2026-03-1{n}", declined=True)
        offer["id"] = f"offer-{n}"
        offers.append(offer)
    await _put(region, key, offers)
    declined = (await counted(region, unit="org-b")).figure("declined_offers_by_unit")
    assert isinstance(declined, Counts) and declined.cells == () and declined.total is None


async def test_a_refused_request_freezes_nothing(region: httpx.AsyncClient, key: SigningKey) -> None:
    """Review 17: the freeze ran before the access checks, so anyone (a patient's 403) could pick
    the moment a tertial is frozen.  Only a report that is made freezes."""
    refused = await region.get("/report", params={"period": PERIOD}, headers=patient_token(key))
    assert refused.status_code == 403
    unknown = await region.get("/report", params={"period": PERIOD, "unit": "org-nowhere"}, headers=service(key))
    assert unknown.status_code == 400
    database = region._transport.app.state.context.repository.database  # type: ignore[attr-defined]
    async with database.reader() as conn:
        assert await conn.fetchval("SELECT COUNT(*) FROM report_frozen_tertials") == 0
    assert (await region.get("/report", params={"period": PERIOD}, headers=service(key))).status_code == 200
    async with database.reader() as conn:
        assert await conn.fetchval("SELECT COUNT(*) FROM report_frozen_tertials") == 1


async def test_a_tertial_is_reported_on_two_weeks_after_it_ends(region: httpx.AsyncClient) -> None:
    """Review 17: a tertial frozen the day after it ended loses the entries of its last days for
    good.  It is reported on (and frozen) once GRACE_DAYS have passed."""
    database = region._transport.app.state.context.repository.database  # type: ignore[attr-defined]
    ended = parse_filters(PERIOD).period
    assert ended is not None
    day = 86_400_000_000

    async def made(days: int) -> Report:
        return await build_report(
            database, parse_filters(PERIOD), readable=lambda _: None, now_us=ended.end + days * day, minimum=5
        )

    with pytest.raises(FhirError) as early:
        await made(GRACE_DAYS - 1)
    assert early.value.status == 400 and early.value.issues[0].expression == ("period",)
    assert (await made(GRACE_DAYS)).period == PERIOD


async def test_the_service_freezes_the_tertials_that_fall_due(region: httpx.AsyncClient) -> None:
    """The background freezer (report/freezer.py) freezes every tertial of this year and the last
    that is due, each once; a report afterwards finds its tertial frozen and counts it."""
    database = region._transport.app.state.context.repository.database  # type: ignore[attr-defined]
    ended = parse_filters(PERIOD).period
    assert ended is not None
    due = ended.end + GRACE_DAYS * 86_400_000_000  # T1 2026 has just fallen due
    await freeze_due(database, due)
    await freeze_due(database, due)
    async with database.reader() as conn:
        frozen = [row[0] for row in await conn.fetch("SELECT tertial_start FROM report_frozen_tertials ORDER BY 1")]
    assert frozen == [start for start, _ in tertials(parse_filters("2025").period.start, ended.end)]  # type: ignore[union-attr]
    assert patients(await counted(region, caregiver="org-region")) == 13

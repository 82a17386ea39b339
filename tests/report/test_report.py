"""GET /report against the hand-counted region of conftest.py, on SQLite and PostgreSQL: every
figure exactly (minimum cell 1, no perturbation), then as published (minimum 5: which cells are
hidden, exactly; what is shown, within the cell-key method's ±2 of the hand count), filtered,
and as each kind of caller may read it."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import httpx

from fhirbridge.report.cellkey import MAX_NOISE
from tests.report.conftest import clinician, patient_token, service, unit_system
from tests.security.tokens import SigningKey

PERIOD = "2026-T1"
"""The region's tertial (January-April 2026): every report here asks for it unless told otherwise."""


async def report(http: httpx.AsyncClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    answer = await http.get("/report", params={"format": "json", "period": PERIOD, **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def cells(body: dict[str, Any], name: str) -> dict[str, int | None]:
    figure = next(f for f in body["figures"] if f["name"] == name)
    found = {"|".join(c["key"]): c["count"] for c in figure["cells"] if c["count"] != 0}
    return {**found, "total": figure["total"]}


def shares(body: dict[str, Any], name: str) -> dict[str, tuple[int | None, int | None]]:
    figure = next(f for f in body["figures"] if f["name"] == name)
    return {"|".join(r["key"]): (r["numerator"], r["denominator"]) for r in figure["rates"]}


def shown_only(found: Mapping[str, Any], shown: Mapping[str, Any]) -> dict[str, Any]:
    """``shown`` with every other cell of ``found`` hidden: a figure of patients' attributes,
    whose zeros are hidden like small counts."""
    return {**dict.fromkeys(found), **shown}


def assert_near(found: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """The same cells, hidden (None) exactly where expected, every shown count (or numerator and
    denominator) within the perturbation's bounds of the hand count."""
    assert found.keys() == expected.keys(), (found, expected)
    for name, value in expected.items():
        pairs = zip(found[name], value, strict=True) if isinstance(value, tuple) else [(found[name], value)]
        for shown, true in pairs:
            assert (shown is None) == (true is None), (name, found[name], value)
            assert shown is None or abs(shown - true) <= MAX_NOISE, (name, found[name], value)


async def test_every_contract_figure_matches_the_hand_count(exact: httpx.AsyncClient, key: SigningKey) -> None:
    body = await report(exact, service(key))
    assert body["minimumCellSize"] == 1
    assert cells(body, "contracts_by_month_and_status") == {
        "2026-01|active": 5,
        "2026-02|active": 8,
        "2026-03|active": 1,
        "total": 14,
    }
    assert cells(body, "contracts_by_unit") == {"org-a": 7, "org-b": 6, "org-hemsjukvard": 1, "total": 14}
    assert cells(body, "contracts_by_caregiver") == {"org-region": 13, "org-kommun": 1, "total": 14}
    assert cells(body, "declined_offers_by_unit") == {"org-a": 1, "total": 1}
    assert cells(body, "patients_by_age_band") == {"85+": 5, "75-84": 9, "total": 14}
    assert cells(body, "patients_by_sex") == {"female": 8, "male": 6, "total": 14}
    assert cells(body, "patients_by_municipal_care") == {"ja": 1, "nej": 13, "total": 14}
    assert cells(body, "patients_by_condition_chapter") == {"okänt": 14, "total": 14}
    assert cells(body, "contracts_by_revision_age") == {"0-90": 14, "total": 14}
    assert shares(body, "patients_with_fixed_contacts") == {
        "fast-vardkontakt": (10, 14),
        "fast-lakarkontakt": (6, 14),
        "nasta-tid": (9, 14),
    }


async def test_small_cells_are_suppressed_with_a_complement(region: httpx.AsyncClient, key: SigningKey) -> None:
    body = await report(region, service(key))
    assert body["minimumCellSize"] == 5
    # The home care's one contract (p14, March) and unit A's one declined offer are left out:
    # a unit's tertial of 1 (atoms.py). What stays is the region's 13, nothing under 5.
    assert body["leftOutUnits"] == ["org-a", "org-hemsjukvard"]
    assert_near(cells(body, "contracts_by_month_and_status"), {"2026-01|active": 5, "2026-02|active": 8, "total": 13})
    assert_near(cells(body, "contracts_by_unit"), {"org-a": 7, "org-b": 6, "total": 13})
    assert_near(cells(body, "contracts_by_caregiver"), {"org-region": 13, "total": 13})
    assert cells(body, "declined_offers_by_unit") == {"total": None}  # left out: hidden, not 0
    municipal = cells(body, "patients_by_municipal_care")  # nej 13, ja 0: the 0 hides, and nej with it
    assert_near(municipal, {"ja": None, "nej": None, "total": 13})
    # Patients' attributes hide their zeros like small counts (no band, sex or chapter is said to
    # hold nobody, or everybody), and the smallest shown count with them as the complement.
    ages = cells(body, "patients_by_age_band")  # 85+ 5, 75-84 8
    assert_near(ages, shown_only(ages, {"75-84": 8, "total": 13}))
    sexes = cells(body, "patients_by_sex")  # female 8, male 5
    assert_near(sexes, shown_only(sexes, {"female": 8, "total": 13}))
    assert set(sexes) == {"female", "male", "other", "unknown", "total"}
    # 10 of 13 with a fixed care contact and 9 of 13 with a next time: the 3 and 4 without would
    # be small cells, so those numerators hide; 6 of 13 with a fixed doctor shows.
    assert_near(
        shares(body, "patients_with_fixed_contacts"),
        {"fast-vardkontakt": (None, 13), "fast-lakarkontakt": (6, 13), "nasta-tid": (None, 13)},
    )
    assert body["minimumCellSize"] == 5 and all(
        c["count"] is None or c["count"] == 0 or c["count"] >= 5 for f in body["figures"] for c in f.get("cells", [])
    )


async def test_a_small_denominator_hides_the_share(region: httpx.AsyncClient, key: SigningKey) -> None:
    body = await report(region, service(key), unit="org-hemsjukvard")
    assert shares(body, "patients_with_fixed_contacts") == {
        "fast-vardkontakt": (None, None),
        "fast-lakarkontakt": (None, None),
        "nasta-tid": (None, None),
    }
    assert cells(body, "contracts_by_unit") == {"total": None}  # its one contract left out: hidden, not 0
    assert body["leftOutUnits"] == ["org-hemsjukvard"]


async def test_filters_by_period_unit_and_caregiver(exact: httpx.AsyncClient, key: SigningKey) -> None:
    before = await report(exact, service(key), period="2025-T3")
    assert cells(before, "contracts_by_unit") == {"total": 0}
    assert (await exact.get("/report", params={"period": "2026-02"}, headers=service(key))).status_code == 400
    tertial = await report(exact, service(key), period="2026-T1", unit="org-a")
    assert tertial["units"] == ["org-a"] and tertial["period"] == "2026-T1"
    assert cells(tertial, "contracts_by_unit") == {"org-a": 7, "total": 7}
    spelled_out = await report(exact, service(key), period="2026-01-01/2026-04-30", unit="org-a")
    assert spelled_out["period"] == "2026-T1" and tertial["figures"] == spelled_out["figures"]
    municipal = await report(exact, service(key), caregiver="org-kommun")
    assert cells(municipal, "contracts_by_unit") == {"org-hemsjukvard": 1, "total": 1}
    assert shares(municipal, "patients_with_fixed_contacts")["fast-vardkontakt"] == (0, 1)


async def test_a_unit_reads_its_own_units_only(exact: httpx.AsyncClient, key: SigningKey) -> None:
    own = await report(exact, unit_system(key, "org-a"))
    assert cells(own, "contracts_by_unit") == {"org-a": 7, "total": 7}
    assert cells(own, "declined_offers_by_unit") == {"org-a": 1, "total": 1}
    by_clinician = await report(exact, clinician(key, "org-b"))
    assert cells(by_clinician, "contracts_by_unit") == {"org-b": 6, "total": 6}
    region_wide = await report(exact, unit_system(key, "org-region"))  # the units below it too
    assert cells(region_wide, "contracts_by_unit") == {"org-a": 7, "org-b": 6, "total": 13}
    refused = await exact.get("/report", params={"unit": "org-b"}, headers=unit_system(key, "org-a"))
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"


async def test_patients_and_anonymous_callers_read_no_report(region: httpx.AsyncClient, key: SigningKey) -> None:
    refused = await region.get("/report", headers=patient_token(key))
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert (await region.get("/report")).status_code == 401


async def test_bad_filters_are_400_naming_them(region: httpx.AsyncClient, key: SigningKey) -> None:
    for params, name in (
        ({"period": "2026-13"}, "period"),
        ({"period": "last year"}, "period"),
        ({"period": "2026-03/2026-01"}, "period"),
        ({"unit": "org-nowhere"}, "unit"),
        ({"caregiver": "org-nowhere"}, "caregiver"),
        ({"unit": "bad id!"}, "unit"),
    ):
        answer = await region.get("/report", params=params, headers=service(key))
        assert answer.status_code == 400, params
        outcome = answer.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["expression"] == [name]
    assert (await region.get("/report", params={"format": "xml"}, headers=service(key))).status_code == 406


async def test_csv_has_the_same_figures(region: httpx.AsyncClient, key: SigningKey) -> None:
    answer = await region.get("/report", params={"format": "csv", "period": PERIOD}, headers=service(key))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = {(r["figure"], r["key"]): r for r in csv.DictReader(io.StringIO(answer.text))}
    body = await report(region, service(key))
    for figure in body["figures"]:
        for cell in figure.get("cells", []):
            shown = rows[(figure["name"], "|".join(cell["key"]))]["count"]
            assert shown == ("" if cell["count"] is None else str(cell["count"])), cell  # suppressed: empty
        for rate in figure.get("rates", []):
            row = rows[(figure["name"], "|".join(rate["key"]))]
            assert (row["numerator"], row["denominator"]) == tuple(
                "" if n is None else str(n) for n in (rate["numerator"], rate["denominator"])
            )
    assert rows[("patients_by_sex", "male")]["count"] == ""  # suppressed
    assert rows[("left_out_units", "org-hemsjukvard")]["label"] == "org-hemsjukvard"


async def test_a_changed_contract_moves_in_the_report(exact: httpx.AsyncClient, key: SigningKey) -> None:
    """The projection follows every write: an update, a deletion."""
    plan = (await exact.get("/fhir/CarePlan/contract-14", headers=service(key))).json()
    plan["author"] = {"reference": "PractitionerRole/role-b"}
    assert (await exact.put("/fhir/CarePlan/contract-14", json=plan, headers=service(key))).status_code == 200
    assert (await exact.delete("/fhir/CarePlan/contract-13", headers=service(key))).status_code in (200, 204)
    body = await report(exact, service(key))
    assert cells(body, "contracts_by_unit") == {"org-a": 7, "org-b": 6, "total": 13}

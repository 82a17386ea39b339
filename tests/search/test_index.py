"""What a resource puts into the search index (R4 search.html#ptypes)."""

from __future__ import annotations

from fhirbridge.search.dates import MAX_TIME, date_range
from fhirbridge.search.index import extract_index

LOCAL = "https://fhir.region.se/fhir"


def test_tokens_of_codeable_concepts_identifiers_and_contact_points() -> None:
    rows = extract_index(
        "Patient",
        {
            "resourceType": "Patient",
            "identifier": [{"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"}],
            "telecom": [{"system": "phone", "value": "070-123 45 67"}],
            "gender": "female",
            "active": True,
        },
    )
    assert ("identifier", "http://electronichealth.se/identifier/personnummer", "191212121212", None) in rows.token
    assert ("phone", None, "070-123 45 67", None) in rows.token
    assert ("gender", None, "female", None) in rows.token
    assert ("active", None, "true", None) in rows.token


def test_strings_are_normalised_for_accent_and_case() -> None:
    rows = extract_index("Patient", {"resourceType": "Patient", "name": [{"family": "Öberg", "given": ["Åsa"]}]})
    assert ("family", "oberg", "Öberg", "}berg") in rows.string
    assert ("name", "asa", "Åsa", "{sa") in rows.string


def test_dates_become_ranges_and_open_periods_stay_open() -> None:
    rows = extract_index("CarePlan", {"resourceType": "CarePlan", "period": {"start": "2026-03-01"}})
    low = date_range("2026-03-01")
    assert low is not None
    assert rows.date == [("date", low[0], MAX_TIME)]


def test_references_local_absolute_and_identifier() -> None:
    rows = extract_index(
        "CarePlan",
        {
            "resourceType": "CarePlan",
            "subject": {"reference": f"{LOCAL}/Patient/p1"},
            "careTeam": [{"reference": "https://other.se/fhir/CareTeam/t1"}],
            "goal": [{"identifier": {"system": "urn:x", "value": "g1"}}],
        },
        LOCAL,
    )
    assert ("subject", "Patient", "p1", None) in rows.reference
    assert ("patient", "Patient", "p1", None) in rows.reference
    assert ("care-team", "CareTeam", "t1", "https://other.se/fhir/CareTeam/t1") in rows.reference
    assert ("goal:identifier", "urn:x", "g1", None) in rows.token


def test_date_precision() -> None:
    year = date_range("2026")
    day = date_range("2026-02-28")
    instant = date_range("2026-02-28T10:00:00+01:00")
    assert year and day and instant
    assert year[0] <= day[0] < day[1] <= year[1]
    assert instant[1] - instant[0] == 999_999
    assert date_range("2026-02-30") is None
    assert date_range("not a date") is None

"""Which searches are read inline on SQLite (fhirbridge.search.selective): those an index finds by
equality; anything that may scan keeps its worker thread."""

from __future__ import annotations

import pytest

from fhirbridge.search.query import SearchQuery, parse_query
from fhirbridge.search.selective import MOST_INLINE_INCLUDES, inline_includes, selective


def _query(resource_type: str, text: str) -> SearchQuery:
    pairs = [tuple(part.split("=", 1)) for part in text.split("&")]
    return parse_query(resource_type, pairs, strict=True, default_count=20, max_count=1000)


@pytest.mark.parametrize(
    ("resource_type", "text"),
    [
        ("CarePlan", "patient=Patient/p1"),
        ("CarePlan", "subject=Patient/p1&status=active"),
        ("CarePlan", "subject:Patient=p1"),
        ("CareTeam", "participant=PractitionerRole/r1,PractitionerRole/r2"),
        ("Goal", "_id=g1,g2"),
        ("Patient", "identifier=http://electronichealth.se/identifier/personnummer|191212121212"),
        ("Patient", "name=Tolvan&_id=p1"),
    ],
)
def test_an_index_lookup_by_equality_is_selective(resource_type: str, text: str) -> None:
    assert selective(_query(resource_type, text))


@pytest.mark.parametrize(
    ("resource_type", "text"),
    [
        ("CarePlan", "status=active"),
        ("CarePlan", "subject:missing=true"),
        ("Patient", "name=Tolvan"),
        ("CarePlan", "date=ge2024-01-01"),
        ("CarePlan", "subject.name=Tolvan"),
        ("Patient", "_has:CarePlan:subject:status=active"),
        ("Patient", "identifier:not=x"),
        ("CarePlan", "_lastUpdated=gt2024-01-01"),
    ],
)
def test_a_search_that_may_scan_is_not(resource_type: str, text: str) -> None:
    assert not selective(_query(resource_type, text))


def test_many_values_make_a_clause_a_scan() -> None:
    ids = ",".join(f"g{n}" for n in range(21))
    assert not selective(_query("Goal", f"_id={ids}"))


def test_includes_are_inline_for_a_page_and_not_when_they_iterate() -> None:
    page = _query("CarePlan", "patient=Patient/p1&_include=CarePlan:care-team")
    assert inline_includes(page, 20)
    assert not inline_includes(page, MOST_INLINE_INCLUDES + 1)
    iterating = _query("CarePlan", "patient=Patient/p1&_include:iterate=CareTeam:participant")
    assert not inline_includes(iterating, 20)
    assert not inline_includes(_query("CarePlan", "patient=Patient/p1"), 20)

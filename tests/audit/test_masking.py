"""What the access log keeps of a query string: which parameters were asked, and only the values
that shape the result."""

from __future__ import annotations

import pytest

from fhirbridge.audit.events import masked


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("subject=Patient%2F496f10d8", "subject=[value]"),
        ("identifier=http://x%7C191212121212", "identifier=[value]"),
        ("family=Tolvansson,Hemlig&birthdate=1912-12-12", "family=[value]&birthdate=[value]"),
        ("subject:Patient.identifier=191212121212&_count=1", "subject:Patient.identifier=[value]&_count=1"),
        (
            "_id=a1,b2&_sort=-_lastUpdated&_include=CarePlan:goal",
            "_id=[value]&_sort=-_lastUpdated&_include=CarePlan:goal",
        ),
        ("_include:iterate=PractitionerRole:practitioner", "_include:iterate=PractitionerRole:practitioner"),
        ("note=19121212%2D1212", "note=[value]"),
    ],
)
def test_values_that_could_name_someone_are_masked(query: str, kept: str) -> None:
    assert masked(query) == kept

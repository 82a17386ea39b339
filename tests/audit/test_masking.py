"""What the access log keeps of a query string: no personnummer, no identifier values."""

from __future__ import annotations

import pytest

from fhirbridge.audit.events import masked


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        (
            "subject=Patient%2F496f10d8-93c0-47c0-bf09-321219434937",
            "subject=Patient%2F496f10d8-93c0-47c0-bf09-321219434937",
        ),
        ("identifier=http://x%7C191212121212", "identifier=http://x%7C[identifier]"),
        ("identifier=http://x|RES000000042,abc", "identifier=http://x|[identifier],[identifier]"),
        ("subject:Patient.identifier=191212121212&_count=1", "subject:Patient.identifier=[identifier]&_count=1"),
        ("family=Ek&note=19121212-1212", "family=Ek&note=[personnummer]"),
        ("family=Ek&note=1212121212", "family=Ek&note=[personnummer]"),
        ("_id=a191212121212", "_id=a191212121212"),
    ],
)
def test_identifiers_are_masked_and_ids_kept(query: str, kept: str) -> None:
    assert masked(query) == kept

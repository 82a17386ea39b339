"""The session-wide scan of every written log line (tests/support/written_logs.py) finds what it
is there to find, and the service's handler leaves it nothing to find."""

from __future__ import annotations

import logging

from tests.support.written_logs import WrittenLogs, identifiers_in


def test_the_scan_finds_every_shape_of_a_number_and_an_hsa_id() -> None:
    assert identifiers_in("GET /fhir/Patient?identifier=191212121212 200") == ["191212121212"]
    assert identifiers_in("id 19121212-1212 and 121212+1212 and 19121212%2D1212") == [
        "19121212-1212",
        "121212+1212",
        "19121212%2D1212",
    ]
    assert identifiers_in("samordningsnummer 197010632391") == ["197010632391"]
    assert identifiers_in("practitioner SE2321000198-P0KL1") == ["SE2321000198-P0KL1"]
    assert identifiers_in("identifier=http%3A%2F%2Fexample%7C191212121212&x") == ["191212121212"]
    assert identifiers_in("191212121213 is mistyped, 2026120714 is an hour, 5000 rows") == []


def test_the_scan_reads_no_number_into_a_request_id() -> None:
    """A random UUID's last group can hold ten digits that read as a date with a right check
    digit (one did, in a CI run): a request id is not a personnummer."""
    assert identifiers_in("[178c4255-c6cb-422f-a5ed-0201221280f6] server fault 297580d7da60") == []
    assert identifiers_in("id 0201221280f6 is a hex token") == []


def test_a_line_the_service_writes_names_no_one() -> None:
    scan = WrittenLogs()
    logger = logging.getLogger("fhirbridge.test_written_logs")
    logger.addHandler(scan)
    logger.propagate = False
    try:
        logger.warning("patient %s asked for %s", "19121212-1212", "/fhir/Patient?identifier=191212121212")
        logger.warning("seen by SE2321000198-P0KL1")
    finally:
        logger.removeHandler(scan)
        logger.propagate = True
    assert scan.lines == 2
    assert scan.offending == []

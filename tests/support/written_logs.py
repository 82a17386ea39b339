"""Every log line of the whole test run, as the service's handler writes it, scanned for
personnummer, samordningsnummer and HSA-ids in clear (issue 17: "no personnummer in any log line
of the test run").

:class:`WrittenLogs` sees every record any logger handles in the session (``tests/conftest.py``
wraps :meth:`logging.Logger.handle`, so that no test's logging configuration takes it off), as
the service's handler is on the root and sees them all in production.  Each record is written
by :func:`~fhirbridge.observability.logs.service_handler`, the handler the service logs through
in production, into memory, and the line is searched by :func:`identifiers_in`, which knows the
numbers' rules (dates, the Luhn check digit) and none of the service's masking patterns.  The
session fails when a line held one.
"""

from __future__ import annotations

import copy
import io
import logging
import re
from datetime import date

from fhirbridge.observability.logs import service_handler
from fhirbridge.sweden.identifiers import luhn_digit

_NUMBER = re.compile(
    r"(?:(?<![0-9A-Za-z])|(?<=%[0-9A-Fa-f]{2}))"  # on its own, or after an encoded separator (%7C)
    r"((?:19|20)?[0-9]{6})(?:[-+]|%2[DdBb])?([0-9]{4})(?![0-9A-Za-z])"
)
_HSA_ID = re.compile(r"(?<![0-9A-Za-z])SE[0-9]{10}-[A-Za-z0-9]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_person_number(birth: str, serial: str) -> bool:
    """A personnummer or samordningsnummer (day + 60): a real date and the right check digit."""
    short = birth[-6:]
    year, month, day = int(short[:2]), int(short[2:4]), int(short[4:6])
    day = day - 60 if day > 60 else day
    try:
        date(2000 + year, month, day)
    except ValueError:
        if not (month == 2 and day == 29):  # a leap day of a year the century would make one
            return False
    return luhn_digit(short + serial[:3]) == int(serial[3])


def identifiers_in(line: str) -> list[str]:
    """The personnummer, samordningsnummer and HSA-ids written in ``line``.

    UUIDs (request ids, resource ids) are left out first: a random one holds ten digits that
    read as a date with the right check digit about once in a few thousand.
    """
    line = _UUID.sub("<uuid>", line)
    found = [match.group(0) for match in _HSA_ID.finditer(line)]
    found += [match.group(0) for match in _NUMBER.finditer(line) if _is_person_number(match.group(1), match.group(2))]
    return found


class WrittenLogs(logging.Handler):
    """Writes each record as the service would, and keeps the lines that name someone."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self._sink = io.StringIO()
        self._service = service_handler(self._sink)
        self.offending: list[str] = []
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        self._service.handle(copy.copy(record))  # the service's handler masks the record in place
        written = self._sink.getvalue()
        self._sink.seek(0)
        self._sink.truncate()
        self.lines += written.count("\n")
        if identifiers_in(written):
            self.offending.append(written.rstrip("\n"))

"""Time as the service keeps it: integer microseconds since the Unix epoch, UTC.

FHIR ``instant`` rendering (R4 datatypes.html#instant), HTTP dates for ``Last-Modified``
(RFC 9110 §5.6.7), and parsing of the instants clients send in ``_since``.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from fhirbridge.errors import bad_request

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INSTANT = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?P<tz>Z|[+-]\d{2}:\d{2})$")


def now_us() -> int:
    """Now, truncated to the millisecond that FHIR instants carry."""
    return (time.time_ns() // 1_000_000) * 1000


def to_datetime(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def from_datetime(value: datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_instant(us: int) -> str:
    """``2026-11-22T09:15:02.123+00:00``: millisecond precision, explicit UTC offset."""
    value = to_datetime(us)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def http_date(us: int) -> str:
    """``Sun, 22 Nov 2026 09:15:02 GMT`` for ``Last-Modified``."""
    return format_datetime(to_datetime(us).replace(microsecond=0), usegmt=True)


def parse_http_date(value: str) -> int | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return from_datetime(parsed)


def parse_instant(value: str, parameter: str) -> int:
    """Parse a full FHIR instant (with seconds and a zone) such as a ``_since`` value."""
    match = _INSTANT.match(value.replace(" ", "+"))
    if match is None:
        raise bad_request(f"{parameter} must be an instant such as 2026-01-31T12:00:00+01:00, not {value!r}", parameter)
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{parameter} is not a real instant: {value!r}", parameter) from None
    return from_datetime(parsed)

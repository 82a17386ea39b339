"""FHIR dates as ranges (R4 search.html#date): every value is the interval it covers.

``2026`` covers the whole year, ``2026-03-01`` the whole day, ``2026-03-01T10:00:00+01:00``
one second.  Values without a time zone are read in Swedish local time, the time zone of
the care they describe.  Ranges are [low, high] in microseconds since the epoch, both ends
inclusive.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fhirbridge.fhir.instants import from_datetime

LOCAL_ZONE = ZoneInfo("Europe/Stockholm")
MIN_TIME = -(2**62)
MAX_TIME = 2**62
_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _zone(text: str | None) -> ZoneInfo | object:
    if text is None:
        return LOCAL_ZONE
    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    from datetime import timezone

    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def date_range(value: str) -> tuple[int, int] | None:
    """The interval a FHIR date, dateTime or instant covers; None if it is not one."""
    match = _DATE.match(value.strip())
    if match is None:
        return None
    parts = match.groupdict()
    try:
        year = int(parts["year"])
        if parts["month"] is None:
            start = datetime(year, 1, 1)
            end = datetime(year + 1, 1, 1)
        elif parts["day"] is None:
            month = int(parts["month"])
            start = datetime(year, month, 1)
            end = datetime(year + (month == 12), month % 12 + 1, 1)
        elif parts["hour"] is None:
            start = datetime(year, int(parts["month"]), int(parts["day"]))
            end = start + timedelta(days=1)
        else:
            second = int(parts["second"] or 0)
            fraction = parts["fraction"]
            micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
            start = datetime(
                year, int(parts["month"]), int(parts["day"]), int(parts["hour"]), int(parts["minute"]), second, micro
            )
            if fraction:
                end = start + timedelta(microseconds=1)
            elif parts["second"] is None:
                end = start + timedelta(minutes=1)
            else:
                end = start + timedelta(seconds=1)
    except ValueError:
        return None
    zone = _zone(parts["tz"])
    low = from_datetime(start.replace(tzinfo=zone))  # type: ignore[arg-type]
    high = from_datetime(end.replace(tzinfo=zone)) - 1  # type: ignore[arg-type]
    return low, high


def instant_range(us: int) -> tuple[int, int]:
    return us, us

"""FHIR dates as ranges (R4 search.html#date): every value is the interval it covers.

``2026`` covers the whole year, ``2026-03-01`` the whole day, ``2026-03-01T10:00:00+01:00``
one second.  Values without a time zone are read in Swedish local time, the time zone of
the care they describe.  Ranges are [low, high] in microseconds since the epoch, both ends
inclusive.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
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


def _zone(text: str | None) -> tzinfo:
    if text is None:
        return LOCAL_ZONE
    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


def _start_and_step(parts: dict[str, str | None]) -> tuple[datetime, timedelta | None]:
    """The first instant the value covers, and how long it lasts (None: to the end of a month or year)."""
    year = int(parts["year"] or 0)
    if parts["month"] is None:
        return datetime(year, 1, 1), None
    if parts["day"] is None:
        return datetime(year, int(parts["month"]), 1), None
    if parts["hour"] is None:
        return datetime(year, int(parts["month"]), int(parts["day"])), timedelta(days=1)
    fraction = parts["fraction"]
    start = datetime(
        year,
        int(parts["month"]),
        int(parts["day"]),
        int(parts["hour"] or 0),
        int(parts["minute"] or 0),
        min(int(parts["second"] or 0), 59),  # a leap second (R4 allows :60) counts as its minute's last
        int((fraction[1:] + "000000")[:6]) if fraction else 0,
    )
    if fraction:
        return start, timedelta(microseconds=1)
    return start, timedelta(minutes=1) if parts["second"] is None else timedelta(seconds=1)


def _end(start: datetime, step: timedelta | None, parts: dict[str, str | None]) -> datetime | None:
    """The first instant after the value; None past the year 9999."""
    try:
        if step is not None:
            return start + step
        if parts["month"] is None:
            return start.replace(year=start.year + 1)
        return (
            start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        )
    except (ValueError, OverflowError):
        return None


def date_range(value: str) -> tuple[int, int] | None:
    """The interval a FHIR date, dateTime or instant covers; None if it is not one."""
    match = _DATE.match(value.strip())
    if match is None:
        return None
    parts = match.groupdict()
    try:
        start, step = _start_and_step(parts)
    except ValueError:
        return None
    zone = _zone(parts["tz"])
    end = _end(start, step, parts)
    low = from_datetime(start.replace(tzinfo=zone))
    high = MAX_TIME if end is None else from_datetime(end.replace(tzinfo=zone)) - 1
    return low, high


def first_instant(value: object) -> int | None:
    """The first microsecond a FHIR date, dateTime or instant covers; None if it is not one."""
    covered = date_range(value) if isinstance(value, str) else None
    return covered[0] if covered else None


def first_instant_after(value: object) -> int | None:
    """The first microsecond after the value (``2026-06-30`` ends at midnight before July 1st);
    None if it is not a date or lies past the year 9999, that is, never ends."""
    covered = date_range(value) if isinstance(value, str) else None
    return covered[1] + 1 if covered and covered[1] != MAX_TIME else None

"""The report's filters: a period, units, a caregiver; and whose units a caller may see.

A period is one of the *published periods*, in Swedish time: a month (``2026-03``), a quarter
(``2026-Q1``), a tertial (``2026-T1``, the regions' four-month period), a half year
(``2026-H1``) or a year (``2026``); also written as its first and last month
(``2026-01/2026-03``, a day only as a month's first or last: ``2026-01-01/2026-03-31``).
Nothing in between: a reader who could choose any run of months could ask for many reports
that hold the same cell beside different others and average its noise away, or two that differ
by one patient (review 14).  And the report counts **closed months only**
(:func:`counted_period`): a period still running is counted up to the end of the last whole
month, one that has not begun closing yet is a 400, so that watching the figures while records
are written cannot single out the record that moved them.
A unit or caregiver is an Organization id (or ``Organization/<id>``); a unit counts with the
units below it.  A malformed period, or a unit or caregiver the directory does not hold, is a
400 naming the filter; a unit outside the caller's own units (a parent of its unit too) a 403.

Who may read which report follows the access policy (docs/security.md): the region's services (a
system token acting for no unit) and development mode read every unit; a clinician's or a unit
system's token reads its own unit and those below it; patients and relatives read none (403).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fhirbridge.auth.scopes import Permission
from fhirbridge.errors import FhirError, bad_request, error
from fhirbridge.identity import Identity
from fhirbridge.report.directory import Directory

SWEDEN = ZoneInfo("Europe/Stockholm")
_PART = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$", re.ASCII)
_NAMED = re.compile(r"^(\d{4})-([QTH])([1-4])$", re.ASCII)
PUBLISHED_MONTHS = {1: "a month", 3: "a quarter", 4: "a tertial", 6: "a half year", 12: "a year"}
"""The published periods by their length in months; each begins where such periods begin
(a quarter in January, April, July or October)."""
_NAMED_MONTHS = {"Q": 3, "T": 4, "H": 6}
REPORT_READS: tuple[str, Permission] = ("CarePlan", "s")


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in µs since the epoch, and how the caller wrote it."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ReportFilters:
    """What the caller asked for (unchecked against the directory)."""

    period: Period | None = None
    units: tuple[str, ...] = ()
    caregiver: str | None = None


def _day(text: str, *, last: bool) -> date:
    match = _PART.match(text.strip())
    if match is None:
        raise ValueError(text)
    year, month, day = int(match[1]), int(match[2] or 0), int(match[3] or 0)
    if not match[2]:
        return date(year, 12, 31) if last else date(year, 1, 1)
    if not match[3]:
        first = date(year, month, 1)
        return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1) if last else first
    return date(year, month, day)


def _instant(day: date) -> int:
    return int(datetime.combine(day, time(), SWEDEN).timestamp() * 1_000_000)


FIRST_YEAR, LAST_YEAR = 1900, 2999
"""The years a period may name (and that an instant in µs holds without overflowing)."""


def _named(text: str) -> str:
    """``2026-Q2`` as ``2026-04/2026-06`` (and T for tertials, H for half years); others as given."""
    match = _NAMED.match(text.strip())
    if match is None:
        return text
    year, months, number = int(match[1]), _NAMED_MONTHS[match[2]], int(match[3])
    if number > 12 // months:
        return text  # 2026-T4: not a period (refused below as malformed)
    first = (number - 1) * months + 1
    return f"{year}-{first:02d}/{year}-{first + months - 1:02d}"


def parse_period(text: str, name: str = "period") -> Period:
    """A published period (a month, quarter, tertial, half year or year; see the module), a 400
    naming ``name`` otherwise."""
    first, _, last = _named(text).partition("/")
    try:
        begins = _day(first, last=False)
        ends = _day(last or first, last=True) + timedelta(days=1)
        start, end = _instant(begins), _instant(ends)
    except (ValueError, OverflowError):
        raise bad_request(
            f"{name}={text!r} is not a period: write YYYY, YYYY-MM, YYYY-Q1..4, YYYY-T1..3, YYYY-H1..2 "
            "or the first/last month of one",
            name,
        ) from None
    if not (begins.year >= FIRST_YEAR and ends.year <= LAST_YEAR + 1):
        raise bad_request(f"{name}={text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}", name)
    if begins.day != 1 or ends.day != 1:
        raise bad_request(
            f"{name}={text!r} does not cover whole months: the report counts whole months only "
            "(a day would let two reports differ by one patient)",
            name,
        )
    if ends <= begins:
        raise bad_request(f"{name}={text!r} ends before it begins", name)
    months = (ends.year - begins.year) * 12 + ends.month - begins.month
    if months not in PUBLISHED_MONTHS or (begins.month - 1) % months:
        raise bad_request(
            f"{name}={text!r} is not a published period: the report is a month, a quarter (YYYY-Q1), "
            "a tertial (YYYY-T1), a half year (YYYY-H1) or a year, each from where such a period begins "
            "(any run of months would let reports be differenced)",
            name,
        )
    return Period(start, end, text)


def month_start(instant_us: int) -> int:
    """The first instant of the Swedish month that holds ``instant_us``."""
    day = datetime.fromtimestamp(instant_us / 1_000_000, SWEDEN).date()
    return _instant(day.replace(day=1))


def counted_period(period: Period | None, now_us: int, name: str = "period") -> tuple[int | None, int]:
    """``[start, end)`` that a report asked at ``now_us`` counts: closed months only.  No period:
    everything that began before this month (start None); a period still running: up to the
    end of the last whole month; a period in this month or later: a 400 naming ``name``."""
    closed_until = month_start(now_us)
    if period is None:
        return None, closed_until
    if period.start >= closed_until:
        last = datetime.fromtimestamp((closed_until - 1) / 1_000_000, SWEDEN).strftime("%Y-%m")
        raise bad_request(
            f"{name}={period.text!r} has not closed yet: the report counts closed months (up to {last})", name
        )
    return period.start, min(period.end, closed_until)


def parse_filters(period: str | None, units: list[str] | None = None, caregiver: str | None = None) -> ReportFilters:
    """The filters as given on the command line or in the query (unit ids may say ``Organization/``).

    One unit *or* one caregiver at a time: a reader who may choose any union of units can ask
    for two reports whose records differ by one patient, and average the cell-key noise away
    over many unions (review 14).  This narrows what can be asked; it does not close
    differencing between a caregiver and one of its units, or between month ranges (README,
    "Known defect")."""
    chosen = [unit for unit in units or () if unit]
    if len(chosen) > 1:
        raise bad_request("The report is asked for one unit at a time (unit given more than once)", "unit")
    if chosen and caregiver:
        raise bad_request("The report is asked for a unit or a caregiver, not both", "caregiver")
    return ReportFilters(
        period=parse_period(period) if period else None,
        units=tuple(_organisation(unit, "unit") for unit in units or () if unit),
        caregiver=_organisation(caregiver, "caregiver") if caregiver else None,
    )


def _organisation(text: str, name: str) -> str:
    value = text.strip().removeprefix("Organization/")
    if not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", value):
        raise bad_request(f"{name}={text!r} is not an Organization id", name)
    return value


def readable_units(identity: Identity, directory: Directory) -> frozenset[str] | None:
    """The units ``identity`` may read figures of; None: every unit.  A 403 for patients,
    relatives and users without a unit."""
    if identity.unrestricted:
        return None
    if identity.kind == "patient":
        raise _forbidden("Patients and relatives do not read the follow-up report")
    unit = (identity.on_behalf_of or "").removeprefix("Organization/") or None
    if unit is None:
        if identity.kind == "system":
            return None  # a region-wide service
        raise _forbidden("The follow-up report is read for a care unit: the token names none (organization)")
    return directory.below(unit) if unit in directory.names else frozenset({unit})


def selected_units(
    filters: ReportFilters, directory: Directory, readable: frozenset[str] | None
) -> frozenset[str] | None:
    """The units the report counts: the filters within what the caller may read (None: all).
    An unknown unit or caregiver is a 400 naming it; one outside the caller's units a 403."""
    chosen = readable
    for name, wanted in [
        *(("unit", u) for u in filters.units),
        *((("caregiver", filters.caregiver),) if filters.caregiver else ()),
    ]:
        if wanted not in directory.names:
            raise bad_request(f"{name}={wanted} is not a unit in the directory (Organization/{wanted})", name)
    if readable is not None and any(unit not in readable for unit in filters.units):
        raise _forbidden("The filter names a unit outside the caller's own (a parent unit is another unit)")
    if filters.units:
        picked = frozenset().union(*(directory.below(unit) for unit in filters.units))
        chosen = picked if chosen is None else chosen & picked
    if filters.caregiver:
        picked = directory.of_caregiver(filters.caregiver)
        chosen = picked if chosen is None else chosen & picked
    if readable is not None and (filters.units or filters.caregiver) and not chosen:
        raise _forbidden("The filter names units outside the caller's own")
    return chosen


def _forbidden(message: str) -> FhirError:
    return FhirError(403, [error("forbidden", message)])

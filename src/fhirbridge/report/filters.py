"""The report's filters: a period, units, a caregiver; and whose units a caller may see.

A period is a **tertial** (``2026-T1``: January-April, the regions' own follow-up period;
``T2`` May-August, ``T3`` September-December) or a **year** (``2026``), in Swedish time, and
only once it has ended (:func:`closed_period`; none given: the last tertial that has ended).
Also written as its first and last month (``2026-01/2026-04``; a day only as a month's first or
last).  Nothing else (review 14, 15): tertials nest in years and in nothing else, so every
difference between two reports one may ask for is made of whole (unit, tertial) *atoms*, and
the report leaves out the atoms too small to stand alone (:mod:`fhirbridge.report.atoms`);
a period still running would change under a reader's eyes (and one that ended less than
:data:`GRACE_DAYS` ago still gets late entries).
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
_NAMED = re.compile(r"^(\d{4})-T([1-3])$", re.ASCII)
TERTIAL_MONTHS = 4
PUBLISHED_MONTHS = {TERTIAL_MONTHS: "a tertial", 12: "a year"}
"""The published periods by their length in months; a tertial begins in January, May or September."""
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
    """``2026-T2`` as ``2026-05/2026-08``; others as given."""
    match = _NAMED.match(text.strip())
    if match is None:
        return text
    year, first = int(match[1]), (int(match[2]) - 1) * TERTIAL_MONTHS + 1
    return f"{year}-{first:02d}/{year}-{first + TERTIAL_MONTHS - 1:02d}"


def tertials(start: int, end: int) -> list[tuple[int, int]]:
    """The tertials ``[start, end)`` of a period (one, or a year's three), as instants."""
    first = datetime.fromtimestamp(start / 1_000_000, SWEDEN).date()
    bounds = []
    while True:
        month = first.month + TERTIAL_MONTHS
        following = date(first.year + (month > 12), (month - 1) % 12 + 1, 1)
        bounds.append((_instant(first), _instant(following)))
        if _instant(following) >= end:
            return bounds
        first = following


def period_text(start: int) -> tuple[str, str]:
    """A published period's canonical names: (its tertial, its year) beginning at ``start``."""
    day = datetime.fromtimestamp(start / 1_000_000, SWEDEN).date()
    return f"{day.year}-T{(day.month - 1) // TERTIAL_MONTHS + 1}", str(day.year)


def parse_period(text: str, name: str = "period") -> Period:
    """A published period (a tertial or a year; see the module), named canonically (``2026-T1``,
    ``2026``); a 400 naming ``name`` otherwise."""
    first, _, last = _named(text).partition("/")
    try:
        begins = _day(first, last=False)
        ends = _day(last or first, last=True) + timedelta(days=1)
        start, end = _instant(begins), _instant(ends)
    except (ValueError, OverflowError):
        raise bad_request(
            f"{name}={text!r} is not a period: write YYYY-T1, YYYY-T2, YYYY-T3 (tertials) or YYYY (a year)",
            name,
        ) from None
    if not (begins.year >= FIRST_YEAR and ends.year <= LAST_YEAR + 1):
        raise bad_request(f"{name}={text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}", name)
    if begins.day != 1 or ends.day != 1:
        raise bad_request(f"{name}={text!r} does not cover whole months: the report is a tertial or a year", name)
    if ends <= begins:
        raise bad_request(f"{name}={text!r} ends before it begins", name)
    months = (ends.year - begins.year) * 12 + ends.month - begins.month
    if months not in PUBLISHED_MONTHS or (begins.month - 1) % months:
        raise bad_request(
            f"{name}={text!r} is not a published period: the report is a tertial (YYYY-T1, -T2, -T3: "
            "January-April, May-August, September-December) or a year (YYYY); any other run of months "
            "would let two reports be differenced",
            name,
        )
    tertial, year = period_text(start)
    return Period(start, end, tertial if months == TERTIAL_MONTHS else year)


def month_bound(text: str, name: str, *, first: bool) -> None:
    """A 400 naming ``name`` unless ``text`` is ``YYYY``, ``YYYY-MM`` or a day that is a month's
    first (``first``) or last: one bound of a period of whole months."""
    try:
        day = _day(text, last=not first)
        inside = (day.day != 1) if first else ((day + timedelta(days=1)).day != 1)
    except (ValueError, OverflowError):
        raise bad_request(f"{name}={text!r} is not a date: write YYYY, YYYY-MM or YYYY-MM-DD", name) from None
    if inside:
        raise bad_request(f"{name}={text!r} is inside a month: the report counts whole months", name)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise bad_request(f"{name}={text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}", name)


def month_start(instant_us: int) -> int:
    """The first instant of the Swedish month that holds ``instant_us``."""
    day = datetime.fromtimestamp(instant_us / 1_000_000, SWEDEN).date()
    return _instant(day.replace(day=1))


GRACE_DAYS = 14
"""Days after a period's end before it is reported on (and its tertials frozen): time for the
entries of its last days to be written."""


def closed_period(period: Period | None, now_us: int, name: str = "period") -> Period:
    """The period a report asked at ``now_us`` counts: ``period`` once it has ended and
    :data:`GRACE_DAYS` have passed (a 400 naming ``name`` before), or without one the last
    tertial that has."""
    closed_until = month_start(now_us - GRACE_DAYS * 86_400_000_000)
    if period is None:
        day = datetime.fromtimestamp(closed_until / 1_000_000, SWEDEN).date()
        while (day.month - 1) % TERTIAL_MONTHS:
            day = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
        last = (day - timedelta(days=1)).replace(day=1)
        return parse_period(f"{last.year}-T{(last.month - 1) // TERTIAL_MONTHS + 1}", name)
    if period.end > closed_until:
        latest = closed_period(None, now_us)
        raise bad_request(
            f"{name}={period.text!r} has not ended yet, or ended less than {GRACE_DAYS} days ago: the report "
            f"is made for periods that have (the last tertial that has: {latest.text})",
            name,
        )
    return period


def parse_filters(period: str | None, units: list[str] | None = None, caregiver: str | None = None) -> ReportFilters:
    """The filters as given on the command line or in the query (unit ids may say ``Organization/``).

    One unit *or* one caregiver at a time: a reader who may choose any union of units can ask
    for two reports whose records differ by one patient, and average the cell-key noise away
    over many unions (review 14).  Between a unit and its caregiver, or a year and its tertials,
    the atoms (:mod:`fhirbridge.report.atoms`) keep every difference to whole atoms."""
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

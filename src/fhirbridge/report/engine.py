"""The follow-up report (issue 13; seeds 001 §6 and 003): one function,
:func:`build_report`, that every rendering calls (JSON and CSV here, the HTML page and
``Measure/$evaluate-measure`` on top of it).

The figures (docs in the README, "Follow-up report"):

* contracts by status per month they began; by unit and by caregiver;
* contract patients (with a contract in force: active or on hold) by age band, sex, main
  condition chapter (ICD-10) and municipal care; the shares of them with an active fixed care
  contact, an active fixed doctor, and an agreed next time still ahead;
* contract patients by the time since their contract's last revision;
* declined offers (contracts recorded with ``offer-declined``) by unit;
* the seven questions: the share of yes per question for patients and staff, per unit, the
  share of responses with yes to all seven per unit, and the units where patients and staff
  all did.

A report is made for a tertial or a year that has ended, from the frozen rows of its tertials
(:mod:`fhirbridge.report.freeze`) as whole (unit, tertial) atoms, leaving out those too small to
stand alone (:mod:`fhirbridge.report.atoms`), and is a *release*: computed the first time its
units and period are asked for, then kept and returned unchanged ever after
(:mod:`fhirbridge.report.releases`).  Point-in-time figures (active contacts, next time ahead,
revision age, age) are taken at the end of each contract's tertial.

No report identifies a patient, alone or beside another: small cells are suppressed
(:mod:`fhirbridge.report.suppression`, units consistently within their caregivers) and every
shown count is perturbed by the cell-key method (:mod:`fhirbridge.report.cellkey`), so the
difference of two overlapping reports is noise, not a patient; zeros of patients' attributes
are hidden like small counts.  ``exact`` turns the perturbation and the releases off: only tests
do (nothing in the settings or the request can).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from fhirbridge.fhir.instants import format_instant
from fhirbridge.report import queries, releases
from fhirbridge.report.atoms import small_atoms
from fhirbridge.report.cellkey import ZERO, Tally, tally
from fhirbridge.report.directory import Directory, load_directory
from fhirbridge.report.facts import QUESTIONS, report_tables
from fhirbridge.report.figures import Counts, Figure, Rates, Report, counts, rates
from fhirbridge.report.filters import SWEDEN, ReportFilters, closed_period, selected_units, tertials
from fhirbridge.report.freeze import ensure_frozen
from fhirbridge.report.queries import Atom
from fhirbridge.report.suppression import hidden_in_hierarchy
from fhirbridge.search.dates import date_range
from fhirbridge.storage.database import Database

Progress = Callable[[str], None]
STEPS = 6
"""How many times :func:`build_report` calls ``progress``."""
SEX = {"female": "kvinna", "male": "man", "other": "annat", "unknown": "okänt"}


async def build_report(
    database: Database,
    filters: ReportFilters,
    *,
    readable: Callable[[Directory], frozenset[str] | None],
    now_us: int,
    minimum: int,
    progress: Progress | None = None,
    exact: bool = False,
) -> Report:
    """Every figure for ``filters``, within the units ``readable`` allows (None: all), suppressed
    to ``minimum`` and perturbed (unless ``exact``: tests only).  A filter naming an unknown
    unit or caregiver is a 400, one outside the caller's units a 403
    (:func:`fhirbridge.report.filters.selected_units`)."""
    step = progress or (lambda _: None)
    period = closed_period(filters.period, now_us)
    as_of = period.end - 1
    spans = tertials(period.start, period.end)
    async with database.reader() as conn:  # who may ask, and whether it was asked before
        directory = await load_directory(conn)
        units = selected_units(filters, directory, readable(directory))
        key = releases.release_key(_roots(units, directory), period.start, period.end, minimum)
        released = None if exact else await releases.kept(conn, key)
    if released is not None:
        for _ in range(STEPS):
            step("released")
        return released
    await ensure_frozen(database, spans, band_tables)
    async with database.reader(snapshot=True, heavy=True) as conn:
        scope = queries.Scope(conn, units, tuple(start for start, _ in spans))
        if minimum > 1:
            scope.left_out = await small_atoms(scope, minimum)
        hourly = await queries.by_hour_and_status(scope)
        step("contracts by month")
        per_unit = await queries.by_unit(scope)
        step("contracts by unit")
        revision = await queries.by_revision_age(scope)
        step("time since revision")
        patients = await queries.contract_patients(scope)
        step("contract patients")
        answered = await queries.answers(scope)
        step("seven questions")
    left_out = scope.left_out
    noisy = not exact
    figures: list[Figure] = [
        _monthly(hourly, minimum, noisy),
        *_units(per_unit, directory, minimum, noisy),
        *_patients(patients, minimum, noisy),
        counts(
            "contracts_by_revision_age",
            "Patienter med patientkontrakt efter tid sedan avtalets senaste revision (dagar)",
            ("days",),
            "patients",
            _ordered({(str(band),): tally(n, k) for band, n, k in revision}, [(b,) for b, _ in _revision_bands(as_of)]),
            {},
            minimum,
            perturbed=noisy,
        ),
        *_questions(answered, directory, minimum, noisy),
    ]
    figures = [_unless_left_out(figure, left_out) for figure in figures]
    step("figures")
    report = Report(
        generated=format_instant(now_us),
        as_of=format_instant(as_of),
        period=period.text if period else None,
        units=tuple(sorted(units)) if units is not None else None,
        minimum=minimum,
        figures=tuple(figures),
        perturbed=noisy,
        implemented_units=_implemented(figures),
        left_out_units=tuple(sorted({u for atoms in left_out.values() for u, _ in atoms if u is not None})),
    )
    return report if exact else await releases.keep(database, key, report)


FAMILY_OF = {
    "contracts_by_month_and_status": ("contracts",),
    "contracts_by_unit": ("contracts",),
    "contracts_by_caregiver": ("contracts",),
    "declined_offers_by_unit": ("declined",),
    "contracts_by_revision_age": ("in_force",),
    "patients_by_age_band": ("in_force",),
    "patients_by_sex": ("in_force",),
    "patients_by_condition_chapter": ("in_force",),
    "patients_by_municipal_care": ("in_force",),
    "patients_with_fixed_contacts": ("in_force",),
    "questions_yes": ("patient", "staff"),
    "questions_yes_by_unit": ("patient", "staff"),
    "questions_all_yes_by_unit": ("patient", "staff"),
}
"""The atoms' family (:mod:`fhirbridge.report.atoms`) whose records each figure counts."""


def _unless_left_out(figure: Figure, left_out: Mapping[str, frozenset[Atom]]) -> Figure:
    """A figure left empty only because its records were left out says so (hidden), not 0."""
    if not any(left_out.get(family) for family in FAMILY_OF[figure.name]):
        return figure
    if isinstance(figure, Counts):
        if figure.total != 0:
            return figure
        return replace(figure, total=None, cells=tuple(replace(cell, count=None) for cell in figure.cells))
    return replace(
        figure,
        rates=tuple(replace(r, numerator=None, denominator=None) if r.denominator == 0 else r for r in figure.rates),
    )


def _roots(units: frozenset[str] | None, directory: Directory) -> list[str] | None:
    """The units a report was asked for, as the tops of the set counted (None: every unit): the
    same when the directory later gains a unit below them, so that a release is not made again."""
    if units is None:
        return None
    return sorted(unit for unit in units if directory.parents.get(unit) not in units)


def band_tables(as_of: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The age bands and revision bands as of an instant (what a tertial is frozen with)."""
    return _age_bands(as_of), _revision_bands(as_of)


def _ordered(values: dict[tuple[str, ...], Tally], order: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], Tally]:
    """Every key of ``order`` (zero when absent), then any others."""
    return {**{key: values.get(key, ZERO) for key in order}, **values}


def _local_date(instant_us: int) -> date:
    return datetime.fromtimestamp(instant_us / 1_000_000, SWEDEN).date()


def _first_instant(day: date) -> int:
    covered = date_range(day.isoformat())
    assert covered is not None
    return covered[0]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _age_bands(as_of: int) -> list[tuple[str, int]]:
    """(label, earliest birth instant of someone that young), youngest band first."""
    today = _local_date(as_of)
    bands = []
    for low, high in report_tables()["age_bands"]:
        label = f"{low}-{high}" if high is not None else f"{low}+"
        youngest_older = _years_before(today, high + 1) + timedelta(days=1) if high is not None else date.min
        bands.append((label, _first_instant(youngest_older) if high is not None else 0))
    return bands


def _revision_bands(as_of: int) -> list[tuple[str, int]]:
    bands = []
    for low, high in report_tables()["revision_bands_days"]:
        label = f"{low}-{high}" if high is not None else f"{low}+"
        bands.append((label, as_of - (high + 1) * 86_400_000_000 if high is not None else 0))
    return bands


def _monthly(rows: Sequence[Sequence[Any]], minimum: int, noisy: bool) -> Counts:
    values: dict[tuple[str, ...], Tally] = defaultdict(lambda: ZERO)
    for hour, status, n, key in rows:
        month = datetime.fromtimestamp(int(hour) * 3600, SWEDEN).strftime("%Y-%m")
        values[(month, str(status))] += tally(n, key)
    ordered = dict(sorted(values.items()))
    return counts(
        "contracts_by_month_and_status",
        "Patientkontrakt per månad de upprättades, efter status",
        ("month", "status"),
        "contracts",
        ordered,
        {},
        minimum,
        perturbed=noisy,
    )


def _units(rows: Sequence[Sequence[Any]], directory: Directory, minimum: int, noisy: bool) -> list[Figure]:
    contracts: dict[tuple[str, ...], Tally] = defaultdict(lambda: ZERO)
    declined: dict[tuple[str, ...], Tally] = defaultdict(lambda: ZERO)
    caregivers: dict[tuple[str, ...], Tally] = defaultdict(lambda: ZERO)
    for unit, was_declined, n, k in rows:
        key = (str(unit) if unit is not None else "",)
        if was_declined:
            declined[key] += tally(n, k)
            continue
        contracts[key] += tally(n, k)
        caregivers[(_caregiver(directory, key),)] += tally(n, k)

    def labels(values: dict[tuple[str, ...], Tally]) -> dict[tuple[str, ...], str]:
        return {key: directory.name(key[0] or None) for key in values}

    hidden_caregivers, hidden_units = hidden_in_hierarchy(
        {key: t.count for key, t in caregivers.items()},
        {key: t.count for key, t in contracts.items()},
        lambda unit: (_caregiver(directory, unit),),
        minimum,
    )

    return [
        counts(
            "contracts_by_unit",
            "Patientkontrakt per enhet",
            ("unit",),
            "contracts",
            dict(sorted(contracts.items())),
            labels(contracts),
            minimum,
            perturbed=noisy,
            hidden=hidden_units,
        ),
        counts(
            "contracts_by_caregiver",
            "Patientkontrakt per vårdgivare",
            ("caregiver",),
            "contracts",
            dict(sorted(caregivers.items())),
            labels(caregivers),
            minimum,
            perturbed=noisy,
            hidden=hidden_caregivers,
        ),
        counts(
            "declined_offers_by_unit",
            "Avböjda erbjudanden om patientkontrakt per enhet",
            ("unit",),
            "offers",
            dict(sorted(declined.items())),
            labels(declined),
            minimum,
            perturbed=noisy,
        ),
    ]


def _caregiver(directory: Directory, unit: tuple[str, ...]) -> str:
    return directory.caregiver(unit[0]) if unit[0] else ""


def _patients(rows: Sequence[Sequence[Any]], minimum: int, noisy: bool) -> list[Figure]:
    margins: list[dict[tuple[str, ...], Tally]] = [defaultdict(lambda: ZERO) for _ in range(4)]
    flags = [ZERO, ZERO, ZERO]
    total = ZERO
    for band, sex, chapter, municipal, fvk, fld, ahead, n, k in rows:
        count = tally(n, k)
        total += count
        keys = (str(band), str(sex), str(chapter) if chapter is not None else "okänt", "ja" if municipal else "nej")
        for margin, key in zip(margins, keys, strict=True):
            margin[(key,)] += count
        for index, flag in enumerate((fvk, fld, ahead)):
            flags[index] += count if flag else ZERO
    table = report_tables()["icd10_chapters"]
    bands: Sequence[tuple[str, ...]] = [*((label,) for label, _ in _age_bands(0)), ("okänd",)]
    chapters: Sequence[tuple[str, ...]] = [*((str(row["chapter"]),) for row in table), ("okänt",)]
    chapter_titles: dict[tuple[str, ...], str] = {
        (str(row["chapter"]),): f"{row['chapter']} {row['title']}" for row in table
    }
    return [
        counts(
            "patients_by_age_band",
            "Patienter med patientkontrakt efter ålder",
            ("age_band",),
            "patients",
            _ordered(margins[0], bands),
            {},
            minimum,
            perturbed=noisy,
            attributes=True,
        ),
        counts(
            "patients_by_sex",
            "Patienter med patientkontrakt efter kön",
            ("sex",),
            "patients",
            _ordered(margins[1], [(s,) for s in SEX]),
            {(code,): str(text) for code, text in SEX.items()},
            minimum,
            perturbed=noisy,
            attributes=True,
        ),
        counts(
            "patients_by_condition_chapter",
            "Patienter med patientkontrakt efter huvuddiagnosens kapitel (ICD-10-SE)",
            ("chapter",),
            "patients",
            _ordered(margins[2], chapters),
            chapter_titles,
            minimum,
            perturbed=noisy,
            attributes=True,
        ),
        counts(
            "patients_by_municipal_care",
            "Patienter med patientkontrakt och kommunal vård",
            ("municipal",),
            "patients",
            _ordered(margins[3], [("ja",), ("nej",)]),
            {},
            minimum,
            perturbed=noisy,
            attributes=True,
        ),
        rates(
            "patients_with_fixed_contacts",
            "Andel patienter med patientkontrakt som har fast vårdkontakt, fast läkarkontakt, överenskommen nästa tid",
            ("measure",),
            {
                ("fast-vardkontakt",): (flags[0], total),
                ("fast-lakarkontakt",): (flags[1], total),
                ("nasta-tid",): (flags[2], total),
            },
            {
                ("fast-vardkontakt",): "Aktiv fast vårdkontakt",
                ("fast-lakarkontakt",): "Aktiv fast läkarkontakt",
                ("nasta-tid",): "Överenskommen nästa tid framåt",
            },
            minimum,
            perturbed=noisy,
        ),
    ]


def _questions(rows: Sequence[Sequence[Any]], directory: Directory, minimum: int, noisy: bool) -> list[Figure]:
    overall: dict[tuple[str, ...], tuple[Tally, Tally]] = {}
    per_unit: dict[tuple[str, ...], tuple[Tally, Tally]] = {}
    all_seven: dict[tuple[str, ...], tuple[Tally, Tally]] = {}
    labels: dict[tuple[str, ...], str] = {}
    for unit, respondent, responses, responses_key, all_yes, all_yes_key, *sums in rows:
        unit, respondent = str(unit), str(respondent)
        all_seven[(unit, respondent)] = (tally(all_yes, all_yes_key), tally(responses, responses_key))
        labels[(unit, respondent)] = f"{directory.name(unit)}, {respondent}"
        for index, question in enumerate(QUESTIONS):
            yes, yes_key, answered, answered_key = sums[4 * index : 4 * index + 4]
            pair = (tally(yes, yes_key), tally(answered, answered_key))
            per_unit[(unit, respondent, question)] = pair
            labels[(unit, respondent, question)] = f"{directory.name(unit)}, {respondent}, {question}"
            before = overall.get((respondent, question), (ZERO, ZERO))
            overall[(respondent, question)] = (before[0] + pair[0], before[1] + pair[1])
    order = sorted(overall, key=lambda key: (key[0] != "patient", key[1]))
    return [
        rates(
            "questions_yes",
            "De sju frågorna: andel ja per fråga, patienter och personal",
            ("respondent", "question"),
            {key: overall[key] for key in order},
            {},
            minimum,
            perturbed=noisy,
        ),
        rates(
            "questions_yes_by_unit",
            "De sju frågorna: andel ja per fråga och enhet",
            ("unit", "respondent", "question"),
            dict(sorted(per_unit.items())),
            labels,
            minimum,
            partition=0,
            perturbed=noisy,
        ),
        rates(
            "questions_all_yes_by_unit",
            "De sju frågorna: andel svar med ja på alla sju, per enhet",
            ("unit", "respondent"),
            dict(sorted(all_seven.items())),
            labels,
            minimum,
            partition=0,
            perturbed=noisy,
        ),
    ]


def _implemented(figures: list[Figure]) -> tuple[str, ...]:
    """Units where patients' and staff's responses (neither suppressed) all said yes to all seven."""
    found = next((f for f in figures if f.name == "questions_all_yes_by_unit"), None)
    if not isinstance(found, Rates):
        return ()
    complete: dict[str, set[str]] = defaultdict(set)
    for rate in found.rates:
        if rate.denominator and rate.numerator == rate.denominator:
            complete[rate.key[0]].add(rate.key[1])
    return tuple(sorted(unit for unit, who in complete.items() if who >= {"patient", "staff"}))

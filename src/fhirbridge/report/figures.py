"""The report's typed figures: what the JSON and CSV renderings, the HTML page and
``$evaluate-measure`` all render.  Counts and rates are already suppressed here
(:mod:`fhirbridge.report.suppression`): a hidden value is ``None``; and, unless the report is
built ``exact`` (tests only), every shown value is perturbed by the cell-key method
(:mod:`fhirbridge.report.cellkey`): within ±2 of the true count."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from fhirbridge.report.cellkey import ZERO, Tally, perturb, salt
from fhirbridge.report.suppression import hidden_cells, hidden_numerators, shown_total


@dataclass(frozen=True)
class Cell:
    key: tuple[str, ...]
    """The cell's coordinates, one per dimension of its figure (``("2026-03", "active")``)."""
    label: str
    count: int | None
    """None: suppressed."""


@dataclass(frozen=True)
class Counts:
    """Counts that partition a total (contracts per unit, patients per age band)."""

    name: str
    title: str
    dimensions: tuple[str, ...]
    unit_of_count: str
    """``contracts``, ``patients``, ``responses`` …"""
    cells: tuple[Cell, ...]
    total: int | None


@dataclass(frozen=True)
class Rate:
    key: tuple[str, ...]
    label: str
    numerator: int | None
    denominator: int | None

    @property
    def share(self) -> float | None:
        if self.numerator is None or not self.denominator:
            return None
        return self.numerator / self.denominator


@dataclass(frozen=True)
class Rates:
    """Shares (patients with a fixed care contact, yes to question 3 per unit)."""

    name: str
    title: str
    dimensions: tuple[str, ...]
    rates: tuple[Rate, ...]


Figure = Counts | Rates


@dataclass(frozen=True)
class Report:
    """The whole follow-up report for one caller and one set of filters."""

    generated: str
    as_of: str
    period: str | None
    units: tuple[str, ...] | None
    """The units counted (None: all)."""
    minimum: int
    figures: tuple[Figure, ...] = field(default=())
    perturbed: bool = True
    """Counts perturbed by the cell-key method (False only in tests)."""
    implemented_units: tuple[str, ...] = ()
    """Units whose patients and staff all answered yes to all seven questions (shown only
    where neither group is suppressed)."""
    left_out_units: tuple[str, ...] = ()
    """Units some of whose records in the period are left out of the figures: fewer than the
    minimum in one tertial for some figures (:mod:`fhirbridge.report.atoms`)."""

    def figure(self, name: str) -> Figure:
        return next(f for f in self.figures if f.name == name)


def publish(cell: Tally, minimum: int, perturbed: bool, mixed: int | None = None) -> int:
    """A shown cell's published count: perturbed with its key ``mixed``
    (:func:`fhirbridge.report.cellkey.perturb`, :func:`~fhirbridge.report.cellkey.salt`) or true."""
    return perturb(cell, minimum, mixed) if perturbed else cell.count


def counts(
    name: str,
    title: str,
    dimensions: tuple[str, ...],
    unit_of_count: str,
    values: Mapping[tuple[str, ...], Tally],
    labels: Mapping[tuple[str, ...], str],
    minimum: int,
    *,
    perturbed: bool,
    hidden: set[tuple[str, ...]] | None = None,
    attributes: bool = False,
) -> Counts:
    """A suppressed, perturbed :class:`Counts` from tallies (cells in the order of ``values``);
    ``hidden`` when a hierarchy decided it (:func:`fhirbridge.report.suppression.hidden_in_hierarchy`);
    ``attributes`` for a figure of patients' attributes (its zeros are hidden too)."""
    true = {key: cell.count for key, cell in values.items()}
    if hidden is None:
        hidden = hidden_cells(true, minimum, zeros=attributes)
    whole = sum(values.values(), Tally(0))

    def shown(key: tuple[str, ...], cell: Tally) -> int | None:
        return None if key in hidden else publish(cell, minimum, perturbed, salt(whole, name, key))

    cells = tuple(Cell(key, labels.get(key, " / ".join(key)), shown(key, cell)) for key, cell in values.items())
    hidden_total = shown_total(whole.count, minimum) is None
    total = None if hidden_total else publish(whole, minimum, perturbed, salt(ZERO, name, ()))
    return Counts(name, title, dimensions, unit_of_count, cells, total)


def rates(
    name: str,
    title: str,
    dimensions: tuple[str, ...],
    raw: Mapping[tuple[str, ...], tuple[Tally, Tally]],
    labels: Mapping[tuple[str, ...], str],
    minimum: int,
    partition: int | None = None,
    *,
    perturbed: bool,
) -> Rates:
    """A suppressed, perturbed :class:`Rates` from (numerator, denominator) tallies.  ``partition``
    is the key position whose values split one total (the unit of a per-unit rate): the
    denominators sharing the other positions are suppressed together, complementary, and so are
    their numerators; without it each rate stands alone.  A rate is hidden whole with a small
    denominator; its numerator alone when the numerator or its complement is small."""
    groups: dict[Hashable, dict[tuple[str, ...], tuple[int, int]]] = {}
    for key, (num, den) in raw.items():
        rest = key[:partition] + key[partition + 1 :] if partition is not None else key
        groups.setdefault(rest, {})[key] = (num.count, den.count)
    hidden: set[tuple[str, ...]] = set()
    masked: set[tuple[str, ...]] = set()
    for members in groups.values():
        hidden |= hidden_cells({key: den for key, (_, den) in members.items()}, minimum)
        shown = {key: pair for key, pair in members.items() if key not in hidden}
        masked |= hidden_numerators(shown, minimum, split=partition is not None)

    population = sum((den for _, den in raw.values()), ZERO)

    def published(key: tuple[str, ...], num: Tally, den: Tally) -> tuple[int | None, int | None]:
        if key in hidden:
            return None, None
        mixed = salt(population, name, key)  # the same for both: the same records, the same count
        denominator = publish(den, minimum, perturbed, mixed)
        return (None if key in masked else min(publish(num, minimum, perturbed, mixed), denominator)), denominator

    return Rates(
        name,
        title,
        dimensions,
        tuple(
            Rate(key, labels.get(key, " / ".join(key)), *published(key, num, den)) for key, (num, den) in raw.items()
        ),
    )

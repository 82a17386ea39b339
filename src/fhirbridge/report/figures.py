"""The report's typed figures: what the JSON and CSV renderings, the HTML page and
``$evaluate-measure`` all render.  Counts and rates are already suppressed here
(:mod:`fhirbridge.report.suppression`): a hidden value is ``None``."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from fhirbridge.report.suppression import hidden_cells, shown_total


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
    implemented_units: tuple[str, ...] = ()
    """Units whose patients and staff all answered yes to all seven questions (shown only
    where neither group is suppressed)."""

    def figure(self, name: str) -> Figure:
        return next(f for f in self.figures if f.name == name)


def counts(
    name: str,
    title: str,
    dimensions: tuple[str, ...],
    unit_of_count: str,
    values: Mapping[tuple[str, ...], int],
    labels: Mapping[tuple[str, ...], str],
    minimum: int,
) -> Counts:
    """A suppressed :class:`Counts` from raw counts (cells in the order of ``values``)."""
    hidden = hidden_cells(values, minimum)
    cells = tuple(
        Cell(key, labels.get(key, " / ".join(key)), None if key in hidden else value) for key, value in values.items()
    )
    return Counts(name, title, dimensions, unit_of_count, cells, shown_total(sum(values.values()), minimum))


def rates(
    name: str,
    title: str,
    dimensions: tuple[str, ...],
    raw: Mapping[tuple[str, ...], tuple[int, int]],
    labels: Mapping[tuple[str, ...], str],
    minimum: int,
    partition: int | None = None,
) -> Rates:
    """A suppressed :class:`Rates` from (numerator, denominator) pairs.  ``partition`` is the
    key position whose values split one total (the unit of a per-unit rate): the denominators
    sharing the other positions are suppressed together, complementary; without it each rate
    stands alone and is hidden when its denominator is small."""
    groups: dict[Hashable, dict[tuple[str, ...], int]] = {}
    for key, (_, denominator) in raw.items():
        rest = key[:partition] + key[partition + 1 :] if partition is not None else key
        groups.setdefault(rest, {})[key] = denominator
    hidden: set[tuple[str, ...]] = set()
    for members in groups.values():
        hidden |= hidden_cells(members, minimum)
    return Rates(
        name,
        title,
        dimensions,
        tuple(
            Rate(key, labels.get(key, " / ".join(key)), *((None, None) if key in hidden else (num, den)))
            for key, (num, den) in raw.items()
        ),
    )

"""Releases: each follow-up report is made once for its units and period, then kept.

Official statistics are released, not computed on every request, and for a reason that holds
here (reviews 14, 15): a figure recomputed on every request changes each time a record is
written or corrected, and a reader who watches it change learns what the record changed (which
cells moved: a patient's sex, age band, condition), or collects many differently perturbed
copies of a cell and averages the noise away.  A report is made only for a period that has
ended (:func:`fhirbridge.report.filters.closed_period`); it is computed the first time its
units and period are asked for and kept (``report_releases``); from then on everyone who asks
for them (over HTTP, ``$evaluate-measure`` or the command line) gets the same figures, and two
instances on one database agree on the first one kept.  Records written later about that
period, a correction or a late entry, are not in it: a release is what was known when it was made
(its ``generated`` time).

A release is keyed by the units asked for (the tops of the set counted: a clinician and a
region service asking for the same unit read the same release, and a unit added below it later
does not make a second), the period and the minimum cell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from fhirbridge.fhir.instants import now_us
from fhirbridge.report.figures import Cell, Counts, Figure, Rate, Rates, Report
from fhirbridge.storage.database import Connection, Database

_READ = "SELECT body FROM report_releases WHERE release_key = $1"
_KEEP = (
    "INSERT INTO report_releases (release_key, made_at, body) VALUES ($1, $2, $3) ON CONFLICT (release_key) DO NOTHING"
)


METHOD = 3
"""How releases are made: a release kept by an earlier method is never returned (3: from frozen
tertials, atoms sized by patients)."""


def release_key(units: list[str] | None, start: int, end: int, minimum: int) -> str:
    """The key of the release for these units (None: every unit), period and minimum cell."""
    return hashlib.sha256(json.dumps([METHOD, units, start, end, minimum]).encode()).hexdigest()


async def kept(conn: Connection, key: str) -> Report | None:
    """The release kept under ``key``, if one was made."""
    body = await conn.fetchval(_READ, key)
    return None if body is None else from_body(str(body))


async def keep(database: Database, key: str, report: Report) -> Report:
    """Keep ``report`` as the release under ``key`` unless another was kept first; the kept one."""
    async with database.transaction() as conn:
        await conn.execute(_KEEP, key, now_us(), to_body(report))
        body = await conn.fetchval(_READ, key)
    return from_body(str(body))


def to_body(report: Report) -> str:
    figures = [{"kind": type(figure).__name__, **dataclasses.asdict(figure)} for figure in report.figures]
    return json.dumps({**dataclasses.asdict(report), "figures": figures}, ensure_ascii=False)


def from_body(body: str) -> Report:
    data = json.loads(body)
    figures = tuple(_figure(figure) for figure in data.pop("figures"))
    units = data.pop("units")
    implemented = tuple(data.pop("implemented_units"))
    left_out = tuple(data.pop("left_out_units"))
    return Report(
        **data,
        units=tuple(units) if units is not None else None,
        figures=figures,
        implemented_units=implemented,
        left_out_units=left_out,
    )


def _figure(data: dict[str, Any]) -> Figure:
    kind = data.pop("kind")
    dimensions = tuple(data.pop("dimensions"))
    if kind == "Counts":
        cells = tuple(Cell(tuple(c["key"]), c["label"], c["count"]) for c in data.pop("cells"))
        return Counts(**data, dimensions=dimensions, cells=cells)
    rates = tuple(Rate(tuple(r["key"]), r["label"], r["numerator"], r["denominator"]) for r in data.pop("rates"))
    return Rates(**data, dimensions=dimensions, rates=rates)

"""Releases: each follow-up report is published once a month for its filters, then kept.

Official statistics are released, not computed on every request, and for a reason that holds
here (review 14): a figure recomputed on every request changes each time a record is written,
and a reader who watches it change learns what the record changed (which cells moved: the new
patient's sex, age band and condition), or collects many differently perturbed copies of a cell
and averages the noise away.  So a report is computed the first time it is asked for in a
month and kept (``report_releases``); until the month ends the same filters get the same figures
whatever is written meanwhile, and two instances on one database agree on the first one kept.
The report counts closed months only (:func:`fhirbridge.report.filters.counted_period`): a
release is the figures as they stood when it was made, for months that had already closed.

A release is keyed by the month it is made in, the units counted (after the caller's access:
a clinician and a region service asking for the same unit read the same release), the period
counted and the minimum cell.  Releases of earlier months are deleted when a new one is kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from fhirbridge.report.figures import Cell, Counts, Figure, Rate, Rates, Report
from fhirbridge.storage.database import Connection, Database

_READ = "SELECT body FROM report_releases WHERE release_key = $1"
_KEEP = (
    "INSERT INTO report_releases (release_key, release_month, body) VALUES ($1, $2, $3) "
    "ON CONFLICT (release_key) DO NOTHING"
)
_FORGET = "DELETE FROM report_releases WHERE release_month < $1"


def release_key(month: int, units: frozenset[str] | None, start: int | None, end: int, minimum: int) -> str:
    """The key of the release made in ``month`` (its first instant) for these filters."""
    what = [month, sorted(units) if units is not None else None, start, end, minimum]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()


async def kept(conn: Connection, key: str) -> Report | None:
    """The release kept under ``key``, if one was made."""
    body = await conn.fetchval(_READ, key)
    return None if body is None else from_body(str(body))


async def keep(database: Database, key: str, month: int, report: Report) -> Report:
    """Keep ``report`` as the release under ``key`` unless another was kept first; the kept one."""
    async with database.transaction() as conn:
        await conn.execute(_FORGET, month)
        await conn.execute(_KEEP, key, month, to_body(report))
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
    return Report(
        **data, units=tuple(units) if units is not None else None, figures=figures, implemented_units=implemented
    )


def _figure(data: dict[str, Any]) -> Figure:
    kind = data.pop("kind")
    dimensions = tuple(data.pop("dimensions"))
    if kind == "Counts":
        cells = tuple(Cell(tuple(c["key"]), c["label"], c["count"]) for c in data.pop("cells"))
        return Counts(**data, dimensions=dimensions, cells=cells)
    rates = tuple(Rate(tuple(r["key"]), r["label"], r["numerator"], r["denominator"]) for r in data.pop("rates"))
    return Rates(**data, dimensions=dimensions, rates=rates)

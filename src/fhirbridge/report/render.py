"""The report as JSON and as CSV (one row per cell or rate; a suppressed value is empty in
CSV, ``null`` in JSON).  Pure: from :class:`fhirbridge.report.figures.Report` to text."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fhirbridge.report.figures import Counts, Report

CSV_COLUMNS = ("figure", "key", "label", "count", "numerator", "denominator", "share")


def as_json(report: Report) -> dict[str, Any]:
    figures: list[dict[str, Any]] = []
    for figure in report.figures:
        shaped: dict[str, Any] = {"name": figure.name, "title": figure.title, "dimensions": list(figure.dimensions)}
        if isinstance(figure, Counts):
            shaped["counts"] = figure.unit_of_count
            shaped["total"] = figure.total
            shaped["cells"] = [{"key": list(c.key), "label": c.label, "count": c.count} for c in figure.cells]
        else:
            shaped["rates"] = [
                {
                    "key": list(r.key),
                    "label": r.label,
                    "numerator": r.numerator,
                    "denominator": r.denominator,
                    "share": None if r.share is None else round(r.share, 4),
                }
                for r in figure.rates
            ]
        figures.append(shaped)
    return {
        "generated": report.generated,
        "asOf": report.as_of,
        "period": report.period,
        "units": list(report.units) if report.units is not None else None,
        "minimumCellSize": report.minimum,
        "figures": figures,
        "implementedUnits": list(report.implemented_units),
        "leftOutUnits": list(report.left_out_units),
    }


def to_json(report: Report) -> str:
    return json.dumps(as_json(report), ensure_ascii=False, indent=2)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def blank(value: object) -> object:
        return "" if value is None else value

    for figure in report.figures:
        if isinstance(figure, Counts):
            for cell in figure.cells:
                writer.writerow((figure.name, "|".join(cell.key), cell.label, blank(cell.count), "", "", ""))
            writer.writerow((figure.name, "total", "total", blank(figure.total), "", "", ""))
            continue
        for rate in figure.rates:
            share = "" if rate.share is None else f"{rate.share:.4f}"
            writer.writerow(
                (figure.name, "|".join(rate.key), rate.label, "", blank(rate.numerator), blank(rate.denominator), share)
            )
    for unit in report.implemented_units:
        writer.writerow(("implemented_units", unit, unit, "", "", "", ""))
    for unit in report.left_out_units:
        writer.writerow(("left_out_units", unit, unit, "", "", "", ""))
    return out.getvalue()

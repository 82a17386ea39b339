"""The follow-up report as an HTML page (``GET /report`` for a browser): the same
:class:`~fhirbridge.report.figures.Report` as the JSON and CSV, drawn server-side.

No scripts: a filter form submitted by GET, links to the CSV and JSON of the same filters, and
for each figure an SVG chart (:mod:`fhirbridge.report.svg`) with a table of the same figures as
its text alternative.  A suppressed value reads ``dold``, never a number.  One stylesheet in the
page (the CSP allows inline styles and nothing else, as on the patient overview), readable at
390 px, and print rules that leave out the form and links.  Texts: ``mappings/report-page.json``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from fhirbridge.fhir.instants import to_datetime
from fhirbridge.report.figures import Counts, Rates, Report
from fhirbridge.report.form import Form
from fhirbridge.report.svg import Bar, Group, bars, columns
from fhirbridge.search.dates import LOCAL_ZONE, first_instant

MOST_ROWS = 8
"""A chart of more rows than this leaves out the zeros (the ICD-10 chapters); the table has them."""
MOST_BARS = 60
"""A figure with more bars than this is shown as a table only."""
STYLE = """
:root { color: #1a1a1a; background: #ffffff; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
body { margin: 0 auto; max-width: 52rem; padding: 1rem; font-size: 1.0625rem; line-height: 1.5; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; border-bottom: 2px solid #1d5c8c; padding-bottom: 0.2rem; }
a { color: #0b4f82; }
a:focus, input:focus, select:focus, button:focus { outline: 3px solid #1d5c8c; outline-offset: 2px; }
form { display: flex; flex-wrap: wrap; gap: 0.75rem 1rem; align-items: flex-end; }
form div { display: flex; flex-direction: column; min-width: 0; flex: 1 1 12rem; }
label { font-weight: 600; }
input, select, button { font: inherit; padding: 0.35rem; border: 1px solid #5b6770; border-radius: 0.3rem; }
input, select { max-width: 100%; }
button { background: #1d5c8c; color: #ffffff; border-color: #1d5c8c; padding: 0.4rem 1.25rem; }
.hint { color: #3d4750; font-size: 0.9rem; }
.meta { color: #3d4750; }
svg { display: block; width: 100%; max-width: 36rem; height: auto; margin: 0.5rem 0; font-family: inherit; }
.table { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; min-width: 50%; }
caption { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
th, td { border-bottom: 1px solid #8a949c; padding: 0.3rem 0.6rem 0.3rem 0; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; white-space: nowrap; }
@media print {
  body { max-width: none; font-size: 11pt; }
  form, .downloads { display: none; }
  a { color: #000000; text-decoration: none; }
  section { break-inside: avoid; }
  svg { max-width: 16cm; }
}
"""


def render_page(report: Report, form: Form, texts: dict[str, Any]) -> str:
    body = [f"<h1>{escape(texts['title'])}</h1>", _about(report, form, texts), _form(form, texts)]
    for figure in report.figures:
        body.append(_section(figure, report.minimum, form.names, texts))
    implemented = [form.names.get(unit, unit) for unit in report.implemented_units]
    items = "".join(f"<li>{escape(name)}</li>" for name in implemented)
    body.append(
        '<section aria-labelledby="implemented"><h2 id="implemented">'
        f"{escape(texts['implemented'])}</h2>"
        + (f"<ul>{items}</ul>" if items else f"<p>{escape(texts['noneImplemented'])}</p>")
        + "</section>"
    )
    if report.left_out_units:
        names = "".join(f"<li>{escape(form.names.get(unit, unit))}</li>" for unit in report.left_out_units)
        body.append(
            '<section aria-labelledby="left-out"><h2 id="left-out">'
            f"{escape(texts['leftOut'])}</h2><p>{escape(str(texts['leftOutHint']).format(minimum=report.minimum))}"
            f"</p><ul>{names}</ul></section>"
        )
    return document(texts["title"], "".join(body))


def error_page(status: int, detail: str, texts: dict[str, Any]) -> str:
    """A plain page that says, in Swedish, why the report cannot be shown (a 400 names the filter)."""
    message = str(texts.get(f"error{status}", texts["error"])).format(detail=detail)
    back = f'<p><a href="/report?format=html">{escape(texts["back"])}</a></p>' if status == 400 else ""
    return document(texts["errorTitle"], f"<h1>{escape(texts['errorTitle'])}</h1><p>{escape(message)}</p>{back}")


def document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _about(report: Report, form: Form, texts: dict[str, Any]) -> str:
    units = (
        ", ".join(form.names.get(unit, unit) for unit in report.units)
        if report.units is not None
        else texts["allYouMayRead"]
    )
    about = str(texts["about"]).format(
        period=report.period or texts["wholePeriod"],
        units=units or "–",
        generated=_when(report.generated),
        as_of=_when(report.as_of),
    )
    return (
        f'<p class="meta">{escape(about)}</p><p>{escape(str(texts["suppression"]).format(minimum=report.minimum))}</p>'
    )


def _form(form: Form, texts: dict[str, Any]) -> str:
    def options(choices: Sequence[tuple[str, str]], chosen: str, everything: str) -> str:
        listed = [f'<option value="">{escape(everything)}</option>']
        for value, name in choices:
            picked = " selected" if value == chosen else ""
            listed.append(f'<option value="{escape(value)}"{picked}>{escape(name)}</option>')
        return "".join(listed)

    links = " ".join(
        f'<a href="/report?{escape(urlencode({**form.query(), "format": kind}))}">{escape(texts[kind])}</a>'
        for kind in ("csv", "json")
    )
    return (
        f'<section aria-labelledby="filters"><h2 id="filters">{escape(texts["filters"])}</h2>'
        '<form method="get" action="/report"><input type="hidden" name="format" value="html">'
        f'<div><label for="period">{escape(texts["period"])}</label>'
        f'<input id="period" name="period" value="{escape(form.period)}" aria-describedby="period-hint" '
        f'autocomplete="off"><span id="period-hint" class="hint">{escape(texts["periodHint"])}</span></div>'
        f'<div><label for="unit">{escape(texts["unit"])}</label><select id="unit" name="unit">'
        f"{options(form.units, form.unit, texts['allUnits'])}</select></div>"
        f'<div><label for="caregiver">{escape(texts["caregiver"])}</label><select id="caregiver" name="caregiver">'
        f"{options(form.caregivers, form.caregiver, texts['allCaregivers'])}</select></div>"
        f'<div><button type="submit">{escape(texts["show"])}</button></div></form>'
        f'<p class="downloads">{escape(texts["download"])} {links}</p></section>'
    )


def _section(figure: Counts | Rates, minimum: int, names: dict[str, str], texts: dict[str, Any]) -> str:
    anchor = figure.name.replace("_", "-")
    heading = f'<h2 id="{anchor}">{escape(figure.title)}</h2>'
    if isinstance(figure, Counts):
        chart, table = _counts(figure, names, texts)
    else:
        chart, table = _rates(figure, names, texts)
    return f'<section aria-labelledby="{anchor}">{heading}{chart}{_scrolling(table, figure.title, texts)}</section>'


def _scrolling(table: str, title: str, texts: dict[str, Any]) -> str:
    """A wide table scrolls sideways inside its own box on a phone; the box takes the keyboard
    focus so that it scrolls without a mouse too (WCAG 2.1.1)."""
    label = escape(f"{title} ({texts['tableWord']})", quote=True)
    return f'<div class="table" tabindex="0" role="region" aria-label="{label}">{table}</div>'


def _part(dimension: str, value: str, names: dict[str, str], texts: dict[str, Any]) -> str:
    """One coordinate of a cell in words (a unit's name, a status, a question)."""
    if dimension in ("unit", "caregiver"):
        return names.get(value) or value or "(ingen enhet)"
    table = {"status": "statuses", "respondent": "respondents", "question": "questions"}.get(dimension)
    return str(texts[table].get(value, value)) if table else value


def _counts(figure: Counts, names: dict[str, str], texts: dict[str, Any]) -> tuple[str, str]:
    hidden = texts["hidden"]
    shown = ("" if c.count is None else str(c.count) for c in figure.cells)
    values = [(cell, text or hidden) for cell, text in zip(figure.cells, shown, strict=True)]
    total = hidden if figure.total is None else str(figure.total)
    if len(figure.dimensions) == 2:  # (month, status): months down, statuses across
        rows = list(dict.fromkeys(cell.key[0] for cell in figure.cells))
        kinds = list(dict.fromkeys(cell.key[1] for cell in figure.cells))
        found = {cell.key: (cell.count, text) for cell, text in values}
        series = [_part(figure.dimensions[1], kind, names, texts) for kind in kinds]
        drawn = _every_month(rows) if figure.dimensions[0] == "month" else rows
        groups = [Group(row, tuple(Bar(*_count_bar(found.get((row, kind)), texts)) for kind in kinds)) for row in drawn]
        chart = columns(figure.name, figure.title, series, groups) if rows else ""
        head = [texts["dimensions"].get(figure.dimensions[0], figure.dimensions[0]), *series]
        body = [[row, *(found.get((row, kind), (0, "0"))[1] for kind in kinds)] for row in rows]
    else:
        drawn_cells = [(c, t) for c, t in values if c.count != 0] if len(values) > MOST_ROWS else values
        groups = [Group(cell.label, (Bar(*_count_bar((cell.count, text), texts)),)) for cell, text in drawn_cells]
        maximum = max((cell.count or 0 for cell in figure.cells), default=0)
        chart = bars(figure.name, figure.title, [texts["count"]], groups, maximum) if groups else ""
        head = [texts["dimensions"].get(figure.dimensions[0], figure.dimensions[0]), texts["count"]]
        body = [[cell.label, text] for cell, text in values]
    body.append([texts["total"], total])  # spans the columns (a month's own total may be hidden)
    return _chart_or_note(chart, len(groups), texts), _table(figure.title, head, body, 1)


def _every_month(months: list[str]) -> list[str]:
    """``YYYY-MM`` from the first to the last of ``months``, so that a month without contracts
    stands on the time axis as an empty place (the table lists the months the report has)."""
    if not months or not all(re.fullmatch(r"\d{4}-\d{2}", month) for month in months):
        return months
    year, month = int(months[0][:4]), int(months[0][5:])
    every: list[str] = []
    while f"{year:04d}-{month:02d}" <= months[-1] and len(every) < 240:
        every.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return every


def _count_bar(found: tuple[int | None, str] | None, texts: dict[str, Any]) -> tuple[float | None, str]:
    if found is None:
        return 0.0, "0"
    count, text = found
    return (None, texts["hidden"]) if count is None else (float(count), text)


def _rates(figure: Rates, names: dict[str, str], texts: dict[str, Any]) -> tuple[str, str]:
    """Shares as bars from 0 to 100 %; with a ``respondent`` dimension, patients beside staff."""
    dimensions = figure.dimensions
    split = dimensions.index("respondent") if "respondent" in dimensions else None
    series_keys = list(dict.fromkeys(r.key[split] for r in figure.rates)) if split is not None else [""]
    grouped: dict[tuple[str, ...], dict[str, Bar]] = {}
    head = [*(texts["dimensions"].get(d, d) for d in dimensions), texts["share"], texts["numerator"]]
    head.append(texts["denominator"])
    body: list[list[str]] = []
    for rate in figure.rates:
        words = [_part(d, v, names, texts) for d, v in zip(dimensions, rate.key, strict=True)]
        rest = rate.key[:split] + rate.key[split + 1 :] if split is not None else rate.key
        share = rate.share
        hidden = rate.denominator is None or rate.numerator is None
        text = texts["hidden"] if hidden else "–" if share is None else _percent(share)
        grouped.setdefault(rest, {})[rate.key[split] if split is not None else ""] = Bar(share, text)
        if len(dimensions) == 1:
            words = [rate.label]
        numbers = ["" if n is None else str(n) for n in (rate.numerator, rate.denominator)]
        body.append([*words, text, *(n or texts["hidden"] for n in numbers)])
    series = [_part("respondent", key, names, texts) for key in series_keys] if split is not None else [texts["share"]]
    groups = [
        Group(
            ", ".join(_part(d, v, names, texts) for d, v in zip(_without(dimensions, split), rest, strict=True))
            if len(dimensions) > 1
            else next(r.label for r in figure.rates if r.key == rest),
            tuple(bars_of.get(key, Bar(None, texts["hidden"])) for key in series_keys),
        )
        for rest, bars_of in grouped.items()
    ]
    chart = bars(figure.name, figure.title, series, groups, 1.0) if groups else ""
    count = sum(len(g.bars) for g in groups)
    return _chart_or_note(chart, count, texts), _table(figure.title, head, body, len(dimensions))


def _without(dimensions: tuple[str, ...], index: int | None) -> tuple[str, ...]:
    return dimensions if index is None else dimensions[:index] + dimensions[index + 1 :]


def _chart_or_note(chart: str, bar_count: int, texts: dict[str, Any]) -> str:
    if not chart:
        return f"<p>{escape(texts['noFigures'])}</p>"
    return chart if bar_count <= MOST_BARS else f"<p>{escape(texts['tableOnly'])}</p>"


def _table(title: str, head: Sequence[str], rows: Sequence[Sequence[str]], numeric: int) -> str:
    """A table whose first column heads its rows and whose columns from ``numeric`` on are figures;
    a short row's last cell spans the rest (a total)."""

    def kind(index: int) -> str:
        return ' class="n"' if index >= numeric else ""

    cells = "".join(f'<th scope="col"{kind(i)}>{escape(text)}</th>' for i, text in enumerate(head))
    lines = []
    for row in rows:
        span = f' colspan="{len(head) - len(row) + 1}"' if len(row) < len(head) else ""
        shown = "".join(
            f"<td{kind(i)}{span if i == len(row) - 1 else ''}>{escape(text)}</td>" for i, text in enumerate(row) if i
        )
        lines.append(f'<tr><th scope="row">{escape(row[0])}</th>{shown}</tr>')
    return (
        f"<table><caption>{escape(title)}</caption><thead><tr>{cells}</tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table>"
    )


def _percent(share: float) -> str:
    return f"{round(share * 100)} %"


def _when(instant: str) -> str:
    """An instant in Swedish time, ``2026-03-05 kl. 14:00``."""
    first = first_instant(instant)
    if first is None:
        return instant
    return to_datetime(first).astimezone(LOCAL_ZONE).strftime("%Y-%m-%d kl. %H:%M")

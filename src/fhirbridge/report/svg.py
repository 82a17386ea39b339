"""Small SVG charts for the report page: horizontal bars (one bar per series in each group) and
grouped columns (a time series).  Plain elements with presentation attributes only: no scripts,
no ``style`` attributes, so the page's Content-Security-Policy needs nothing for them.

Each chart is ``role="img"`` named by its ``<title>``; the page puts a table of the same figures
beside it (the text alternative, WCAG 1.1.1).  A hidden (suppressed) value draws no bar, only
its text (``dold``), so a chart never shows more than the table.  Pure: figures in, markup out;
every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 400
"""The viewBox width: at a phone's 390 px the text stays near its nominal size."""
FONT = 15
BAR = 16
GAP = 4
INK = "#1a1a1a"
MUTED = "#3d4750"
FILLS = ("#1d5c8c", "#b35900", "#2e7d32", "#6a3d9a", "#8c1d40", "#4d4d4d")
"""Series colours, each at least 3:1 against white (WCAG 1.4.11)."""
LABEL_CHARACTERS = 44
MONTHS = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


@dataclass(frozen=True)
class Bar:
    value: float | None
    """None: hidden (suppressed)."""
    text: str
    """What stands beside the bar: ``12``, ``71 %``, ``dold``."""


@dataclass(frozen=True)
class Group:
    label: str
    bars: tuple[Bar, ...]
    """One per series, in the order of the chart's series."""


def bars(chart_id: str, title: str, series: Sequence[str], groups: Sequence[Group], maximum: float) -> str:
    """Horizontal bars: each group's label on a line of its own (long labels fit a phone), then
    one bar per series, scaled to ``maximum``; with several series, a legend above and the
    series' name before each value."""
    plot = WIDTH - 110
    y = _legend_height(series)
    parts = [_legend(series)]
    for group in groups:
        y += FONT + 4
        parts.append(_text(0, y, _short(group.label), INK, title=group.label))
        y += GAP
        for index, bar in enumerate(group.bars):
            named = f"{series[index]}: {bar.text}" if len(series) > 1 else bar.text
            length = 0.0 if bar.value is None or maximum <= 0 else plot * min(bar.value / maximum, 1.0)
            if bar.value:
                parts.append(_rect(0, y, max(length, 1.0), BAR, FILLS[index % len(FILLS)], f"{group.label}, {named}"))
            parts.append(_text(length + 4, y + BAR - 3, named, INK if bar.value is not None else MUTED))
            y += BAR + GAP
        y += GAP
    return _svg(chart_id, title, y + GAP, parts)


def columns(chart_id: str, title: str, series: Sequence[str], groups: Sequence[Group]) -> str:
    """Grouped columns (months along the bottom, one column per series in each), with the
    largest value marked on the axis; a hidden value is a dashed mark at the baseline."""
    top = _legend_height(series) + FONT + 4
    height = 150
    base = top + height
    known = [bar.value for group in groups for bar in group.bars if bar.value is not None]
    maximum = max(known, default=0.0) or 1.0
    left = 30
    slot = (WIDTH - left) / max(len(groups), 1)
    width = max(min(14.0, (slot - 4) / max(len(series), 1)), 1.0)
    every = 1 if slot >= 30 else 2 if slot >= 15 else 3 if slot >= 10 else 6
    parts = [
        _legend(series),
        _text(0, top + FONT - 4, _number(maximum), MUTED) if known else "",  # only a value the table shows
        _text(0, base, "0", MUTED),
        f'<line x1="{left}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="{MUTED}" stroke-width="1"/>',
    ]
    for position, group in enumerate(groups):
        x = left + position * slot + 2
        for index, bar in enumerate(group.bars):
            named = f"{group.label}, {series[index]}: {bar.text}"
            if bar.value is None:
                parts.append(
                    f'<rect x="{x:.1f}" y="{base - 4}" width="{width:.1f}" height="4" fill="none" stroke="{MUTED}" '
                    f'stroke-dasharray="2 1"><title>{escape(named)}</title></rect>'
                )
            else:
                tall = max(height * bar.value / maximum, 1.0)
                parts.append(_rect(x, base - tall, width, tall, FILLS[index % len(FILLS)], named))
            x += width
        if position % every == 0:
            month, year = _month(group.label)
            parts.append(_text(left + position * slot + 2, base + FONT + 2, month, INK, size=FONT - 2))
            if year and (position == 0 or month == MONTHS[0]):
                parts.append(_text(left + position * slot + 2, base + 2 * FONT + 4, year, INK, size=FONT - 2))
    return _svg(chart_id, title, base + 2 * FONT + 10, parts)


def _month(label: str) -> tuple[str, str]:
    """``2026-03`` as (``mar``, ``2026``); another label as itself."""
    if (
        len(label) == 7
        and label[4] == "-"
        and label[:4].isdigit()
        and label[5:].isdigit()
        and 1 <= int(label[5:]) <= 12
    ):
        return MONTHS[int(label[5:]) - 1], label[:4]
    return label, ""


def _legend_height(series: Sequence[str]) -> int:
    return 0 if len(series) < 2 else 22 * ((len(series) + 2) // 3)


def _legend(series: Sequence[str]) -> str:
    if len(series) < 2:
        return ""
    parts = []
    for index, name in enumerate(series):
        x, y = (index % 3) * (WIDTH // 3), 22 * (index // 3)
        parts.append(_rect(x, y + 4, 12, 12, FILLS[index % len(FILLS)], None))
        parts.append(_text(x + 16, y + 15, _short(name, 18), INK))
    return "".join(parts)


def _svg(chart_id: str, title: str, height: float, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-labelledby="{chart_id}-title" focusable="false">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        "<desc>Samma siffror står i tabellen under diagrammet.</desc>"
        f"{''.join(parts)}</svg>"
    )


def _rect(x: float, y: float, width: float, height: float, fill: str, title: str | None) -> str:
    tip = f"<title>{escape(title)}</title>" if title else ""
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{fill}">{tip}</rect>'


def _text(x: float, y: float, text: str, fill: str, *, size: int = FONT, title: str | None = None) -> str:
    tip = f"<title>{escape(title)}</title>" if title and title != text else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}">{tip}{escape(text)}</text>'


def _short(text: str, most: int = LABEL_CHARACTERS) -> str:
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"

"""GET /report as a page, over plain HTTP against the hand-counted region of conftest.py: the
figures in its tables are the JSON's for the same filters, a suppressed cell never shows its
count (in the table or the chart), and errors answer a browser with a page."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx

from fhirbridge.adapters.mappings import mapping
from tests.report.conftest import clinician, patient_token, service
from tests.report.test_report import PERIOD
from tests.security.tokens import SigningKey

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class Sections(HTMLParser):
    """Each ``<section>``'s tables (rows of cell texts) and the texts of its SVG, by heading id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.svg_texts: dict[str, list[str]] = {}
        self.section = ""
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.in_svg = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.section = dict(attrs).get("aria-labelledby") or ""
            self.tables[self.section], self.svg_texts[self.section] = [], []
        elif tag == "svg":
            self.in_svg = True
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.section].append(self.row)
            self.row = None
        elif tag == "svg":
            self.in_svg = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        elif self.in_svg and data.strip():
            self.svg_texts[self.section].append(data.strip())


def parsed(html: str) -> Sections:
    sections = Sections()
    sections.feed(html)
    return sections


async def both(http: httpx.AsyncClient, headers: dict[str, str], **params: str) -> tuple[Sections, dict[str, Any]]:
    params = {"period": PERIOD, **params}
    page = await http.get("/report", params={**params, "format": "html"}, headers=headers)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    data = await http.get("/report", params={**params, "format": "json"}, headers=headers)
    assert data.status_code == 200
    return parsed(page.text), data.json()


def shown(value: int | None) -> str:
    return "dold" if value is None else str(value)


def expected_rows(figure: dict[str, Any]) -> list[list[str]]:
    """The table rows the page should have for a JSON figure (header row first)."""
    texts = mapping("report-page")
    if "cells" in figure and len(figure["dimensions"]) == 1:
        return [[c["label"], shown(c["count"])] for c in figure["cells"]] + [["Totalt", shown(figure["total"])]]
    if "cells" in figure:  # (month, status)
        months = list(dict.fromkeys(c["key"][0] for c in figure["cells"]))
        statuses = list(dict.fromkeys(c["key"][1] for c in figure["cells"]))
        found = {tuple(c["key"]): shown(c["count"]) for c in figure["cells"]}
        rows = [[m, *(found.get((m, s), "0") for s in statuses)] for m in months]
        return [["Månad", *(texts["statuses"][s] for s in statuses)], *rows, ["Totalt", shown(figure["total"])]]
    return [
        [
            "dold"
            if r["denominator"] is None or r["numerator"] is None
            else "–"
            if r["share"] is None
            else f"{round(r['share'] * 100)} %",
            shown(r["numerator"]),
            shown(r["denominator"]),
        ]
        for r in figure["rates"]
    ]


def assert_same_figures(page: Sections, body: dict[str, Any]) -> None:
    for figure in body["figures"]:
        rows = page.tables[figure["name"].replace("_", "-")]
        if "cells" in figure and len(figure["dimensions"]) == 2:
            assert rows == expected_rows(figure), figure["name"]
        elif "cells" in figure:
            assert rows[1:] == expected_rows(figure), figure["name"]
        else:
            assert [row[-3:] for row in rows[1:]] == expected_rows(figure), figure["name"]


async def test_the_page_shows_the_json_figures(exact: httpx.AsyncClient, key: SigningKey) -> None:
    page, body = await both(exact, service(key))
    assert_same_figures(page, body)
    assert page.tables["contracts-by-unit"][1:] == [
        ["Vårdcentralen A", "7"],
        ["Vårdcentralen B", "6"],
        ["Hemsjukvården Testby", "1"],
        ["Totalt", "14"],
    ]
    assert page.tables["patients-with-fixed-contacts"][1] == ["Aktiv fast vårdkontakt", "71 %", "10", "14"]


async def test_the_page_follows_the_filters(exact: httpx.AsyncClient, key: SigningKey) -> None:
    for params in ({"period": "2025-T3"}, {"unit": "org-a"}, {"caregiver": "org-kommun", "period": "2026-T1"}):
        page, body = await both(exact, service(key), **params)
        assert_same_figures(page, body)
    answer = await exact.get(
        "/report", params={"period": "2026-T1", "unit": "org-b", "format": "html"}, headers=service(key)
    )
    assert 'href="/report?period=2026-T1&amp;unit=org-b&amp;format=csv"' in answer.text
    assert 'href="/report?period=2026-T1&amp;unit=org-b&amp;format=json"' in answer.text
    assert '<option value="org-b" selected>Vårdcentralen B</option>' in answer.text
    assert 'name="period" value="2026-T1"' in answer.text


async def test_a_suppressed_cell_never_shows_its_count(region: httpx.AsyncClient, key: SigningKey) -> None:
    page, body = await both(region, service(key))
    assert_same_figures(page, body)
    # Hidden: the men's 5 (the complement of the zeros of "other" and "unknown"); the home care's
    # one contract is left out of every figure, and the page says so.
    sexes = page.tables["patients-by-sex"][1:]
    assert [row[0] for row in sexes] == ["kvinna", "man", "annat", "okänt", "Totalt"]
    assert [row[1] == "dold" for row in sexes] == [False, True, True, True, False]
    chart = " ".join(page.svg_texts["patients-by-sex"])
    assert "dold" in chart and not re.search(r"\b5\b", chart)
    units = page.tables["contracts-by-unit"][1:]
    assert [row[0] for row in units] == ["Vårdcentralen A", "Vårdcentralen B", "Totalt"]
    small = await region.get(
        "/report", params={"unit": "org-hemsjukvard", "period": PERIOD}, headers={**service(key), **BROWSER}
    )
    assert "dold" in small.text and not re.search(r">\s*1\s*<", small.text)
    assert 'id="left-out"' in small.text and "Hemsjukvården Testby" in small.text


async def test_a_browser_gets_the_page_with_its_policy(region: httpx.AsyncClient, key: SigningKey) -> None:
    answer = await region.get("/report", headers={**clinician(key, "org-a"), **BROWSER})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "form-action 'self'" in policy and "script" not in policy
    assert "<script" not in answer.text and " on" not in re.sub(r">[^<]*<", "><", answer.text)
    assert '<option value="org-a">Vårdcentralen A</option>' in answer.text
    assert "org-b" not in answer.text  # the unit's own report: another unit is not even a choice
    assert (await region.get("/report", headers=service(key))).headers["content-type"].startswith("application/json")


async def test_errors_answer_a_browser_with_a_page(region: httpx.AsyncClient, key: SigningKey) -> None:
    bad = await region.get("/report", params={"period": "2026-13"}, headers={**service(key), **BROWSER})
    running = await region.get("/report", params={"period": "2999"}, headers={**service(key), **BROWSER})
    assert running.status_code == 400 and "”Period”" in running.text
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")
    assert "Rapporten kan inte visas" in bad.text and "”Period”" in bad.text
    refused = await region.get("/report", headers={**patient_token(key), **BROWSER})
    assert refused.status_code == 403 and "behörighet" in refused.text
    anonymous = await region.get("/report", params={"format": "html"})
    assert anonymous.status_code == 401 and "logga in" in anonymous.text
    outcome = await region.get("/report", params={"period": "2026-13"}, headers=service(key))
    assert outcome.status_code == 400 and outcome.json()["issue"][0]["expression"] == ["period"]

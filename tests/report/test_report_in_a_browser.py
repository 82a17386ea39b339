"""The report page in a real browser (Debian's headless Chromium) over the demo data: at desktop
and at phone width (no sideways scrolling at 390 px), axe finds no WCAG 2.1 A/AA violations, it
prints without the form, its Content-Security-Policy is sent and nothing on the page breaks it,
and the filter form works without scripts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fhirbridge.fhir.instants import now_us
from fhirbridge.report.filters import closed_period
from tests.support.browser import ARGS, CHROMIUM, DESKTOP, PHONE, WCAG_21_AA, demo_service, require_chromium

require_chromium()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_service(tmp_path_factory.mktemp("report-browser"), patients=40) as base:
        yield base


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def open_report(browser: Any, url: str, viewport: dict[str, int]) -> tuple[Any, list[str]]:
    """The page, and every console message about the Content-Security-Policy (none expected)."""
    page = browser.new_page(viewport=viewport)
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)
    response = page.goto(url)
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    return page, violations


def test_the_report_at_desktop_and_phone_width(service: str, browser: Any, tmp_path: Path) -> None:
    from axe_playwright_python.sync_playwright import Axe

    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page, violations = open_report(browser, f"{service}/report?format=html", viewport)
        assert page.locator("h1").inner_text() == "Uppföljning av patientkontrakt"
        assert page.locator("svg[role=img]").count() >= 8
        screenshot = tmp_path / f"report-{name}.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 20_000
        if name == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            results = Axe().run(page, options=WCAG_21_AA)
            assert len(results.response["passes"]) > 10  # axe really checked the page
            assert results.violations_count == 0, results.generate_report()
        assert violations == []
        page.close()


def test_the_report_prints_without_the_form(service: str, browser: Any, tmp_path: Path) -> None:
    page, violations = open_report(browser, f"{service}/report", DESKTOP)  # a browser's Accept: the page
    assert page.locator("form").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("form").is_visible() and not page.locator(".downloads").is_visible()
    assert page.locator("#contracts-by-unit").is_visible() and page.locator("section svg").first.is_visible()
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), format="A4")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    assert violations == []


def test_the_filter_form_works_without_scripts(service: str, browser: Any) -> None:
    page, violations = open_report(browser, f"{service}/report?format=html", PHONE)
    period = closed_period(None, now_us()).text  # the last tertial that has ended: the demo has contracts in it
    page.fill("#period", period)
    page.select_option("#unit", label="Vårdcentralen Norrtull")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert f"period={period}" in page.url and "unit=org-vc-norrtull" in page.url
    rows = page.locator("#contracts-by-unit ~ .table tbody tr")
    counted = rows.count() > 1 and rows.first.locator("th").inner_text() == "Vårdcentralen Norrtull"
    assert counted or "Vårdcentralen Norrtull" in page.locator("#left-out ~ ul").inner_text()
    csv_link = page.get_by_role("link", name="CSV (kalkylark)").get_attribute("href")
    assert csv_link == f"/report?period={period}&unit=org-vc-norrtull&format=csv"
    assert violations == []

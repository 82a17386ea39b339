"""The overview page in a real browser (Debian's headless Chromium): at phone width it fits
without sideways scrolling, axe finds no WCAG 2.1 A/AA violations, and it prints to A4.  CI installs Chromium
and sets FHIRBRIDGE_REQUIRE_BROWSER=1, so there this test cannot be skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import ARGS, CHROMIUM, PHONE, WCAG_21_AA, demo_service, require_chromium

require_chromium()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service with the demo data, as `make run` starts it."""
    with demo_service(tmp_path_factory.mktemp("browser"), patients=4) as base:
        yield base


def test_the_overview_fits_a_phone_and_has_no_accessibility_violations(service: str, tmp_path: Path) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport=PHONE)
        response = page.goto(f"{service}/overview/demo-patient-00001")
        assert response is not None and response.status == 200
        assert page.locator("h1").inner_text().startswith("Min plan")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot = tmp_path / "overview-phone.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000
        results = Axe().run(page, options=WCAG_21_AA)
        page.emulate_media(media="print")  # the paper folder at home: A4, every section, the phone numbers
        assert page.locator("section").count() >= 6 and page.get_by_text("Min fasta vårdkontakt").is_visible()
        pdf = tmp_path / "overview.pdf"
        page.pdf(path=str(pdf), format="A4")
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000
        browser.close()
    assert len(results.response["passes"]) > 10  # axe really checked the page
    assert results.violations_count == 0, results.generate_report()

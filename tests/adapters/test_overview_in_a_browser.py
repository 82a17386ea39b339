"""The overview page in a real browser (Debian's headless Chromium), as a patient reads it, in
Swedish and English, at phone (390 px) and desktop (1280 px) width: it fits without sideways
scrolling, shows each point of issue 14 item 1 (the statement of agreement, the care team's goals
apart, the next visit once in long form, actions to call, write, change or join by video,
relatives, the SIP and who is responsible), what awaits a reply and the patient's own answers
(issue 14 item 2), axe finds no WCAG 2.1 A/AA violations, the language
switch works without scripts, and it prints to A4.  Screenshots are kept in
``FHIRBRIDGE_SCREENSHOTS`` when set.  CI installs Chromium
and sets FHIRBRIDGE_REQUIRE_BROWSER=1, so there this test cannot be skipped."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import ARGS, CHROMIUM, DESKTOP, PHONE, WCAG_21_AA, demo_service, require_chromium

require_chromium()
DIABETES, COPD = "demo-patient-00001", "demo-patient-00002"
WORDS = {
    "sv": {
        "title": "Min plan",
        "agreement": "Det här är planen som du och vården har kommit överens om tillsammans.",
        "care goals": "Vårdens mål",
        "long date": r"(måndag|tisdag|onsdag|torsdag|fredag) \d{1,2} [a-z]+ \d{4} kl\. \d\d\.\d\d",
        "change": "Ändra eller avboka på 1177",
        "video": "Videobesök – du kan vara hemma",
        "sip": "Samordnad individuell plan (SIP) – ansvarig: Gävle kommun",
        "message": "Skicka ett meddelande via 1177",
        "relatives": "Mina närstående",
        "fixed": "Min fasta vårdkontakt",
        "awaiting": "Väntar på svar",
        "your answers": "Dina svar",
    },
    "en": {
        "title": "My plan",
        "agreement": "This is the plan that you and your care team have agreed on together.",
        "care goals": "My care team's goals",
        "long date": r"(Monday|Tuesday|Wednesday|Thursday|Friday) \d{1,2} [A-Z][a-z]+ \d{4} at \d\d:\d\d",
        "change": "Change or cancel on 1177",
        "video": "Video appointment – you can be at home",
        "sip": "Coordinated individual plan (SIP) – responsible: Gävle kommun",
        "message": "Send a message via 1177",
        "relatives": "My family and friends",
        "fixed": "My fixed care contact",
        "awaiting": "Awaiting reply",
        "your answers": "Your answers",
    },
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service with the demo data, as `make run` starts it."""
    with demo_service(tmp_path_factory.mktemp("browser"), patients=4) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _shots() -> Path | None:
    """Where to keep the screenshots for a person to look at (``FHIRBRIDGE_SCREENSHOTS``), if anywhere."""
    folder = os.environ.get("FHIRBRIDGE_SCREENSHOTS")
    return Path(folder) if folder else None


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
@pytest.mark.parametrize("patient", [DIABETES, COPD])
def test_the_overview_reads_well_and_has_no_accessibility_violations(
    service: str, browser: Any, tmp_path: Path, patient: str, viewport: dict[str, int], language: str
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_page(viewport=viewport, extra_http_headers={"Accept-Language": language})
    response = page.goto(f"{service}/overview/{patient}")
    assert response is not None and response.status == 200
    words = WORDS[language]
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("h1").inner_text().startswith(words["title"])
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # no sideways scrolling
    assert page.locator(".agreement").inner_text().startswith(words["agreement"])
    assert page.get_by_role("heading", name=words["care goals"]).is_visible()
    visit = page.locator("dl.visit")
    assert visit.count() == 1 and re.search(words["long date"], visit.inner_text())
    assert page.locator('a[href^="tel:"]').count() >= 4 and page.get_by_role("link", name=words["change"]).is_visible()
    if patient == COPD:
        assert page.get_by_text(words["video"]).is_visible()
        assert page.get_by_text(words["sip"]).first.is_visible()
    else:  # the demo's pending question (issue 14.2), and the patient's answers to the seven questions
        assert page.get_by_role("link", name=words["message"]).is_visible()
        assert page.get_by_role("heading", name=words["awaiting"]).is_visible()
        assert page.get_by_text("vattengympa").is_visible()
    assert page.get_by_role("heading", name=words["your answers"]).is_visible()
    assert page.get_by_role("heading", name=words["relatives"]).is_visible()
    screenshot = tmp_path / f"overview-{patient}-{language}-{viewport['width']}.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    if _shots():
        _shots().mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        shutil.copy(screenshot, _shots() / screenshot.name)  # type: ignore[operator]
    results = Axe().run(page, options=WCAG_21_AA)
    page.close()
    assert len(results.response["passes"]) > 10  # axe really checked the page
    assert results.violations_count == 0, results.generate_report()


def test_the_language_switch_is_a_plain_link(service: str, browser: Any) -> None:
    page = browser.new_page(viewport=PHONE, extra_http_headers={"Accept-Language": "sv-SE,sv;q=0.9"})
    page.goto(f"{service}/overview/{DIABETES}")
    page.get_by_role("link", name="In English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en" and page.url.endswith("?lang=en")
    page.get_by_role("link", name="På svenska").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "sv"
    page.close()


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_overview_prints_to_a4(service: str, browser: Any, tmp_path: Path, language: str) -> None:
    """The paper folder at home: every section and the phone numbers, no language switch."""
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{service}/overview/{COPD}?lang={language}")
    page.emulate_media(media="print")
    assert page.locator("section").count() >= 7 and page.get_by_text(WORDS[language]["fixed"]).is_visible()
    assert not page.locator("nav").is_visible()
    pdf = tmp_path / f"overview-{language}.pdf"
    page.pdf(path=str(pdf), format="A4")
    page.close()
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000

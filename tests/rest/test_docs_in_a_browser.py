"""``/docs`` in a real browser (Debian's headless Chromium): Swagger UI renders the FHIR API
from the service's own files, and no request leaves 127.0.0.1 (a closed regional network sees
the same page).  CI installs Chromium and sets FHIRBRIDGE_REQUIRE_BROWSER=1, so there this test
cannot be skipped."""

from __future__ import annotations

from pathlib import Path

from tests.support.browser import ARGS, CHROMIUM, DESKTOP, demo_service, require_chromium

require_chromium()


def test_swagger_ui_renders_the_api_with_nothing_from_elsewhere(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with demo_service(tmp_path, patients=1) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport=DESKTOP)
            requested: list[str] = []
            complaints: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: complaints.append(str(error)))
            page.goto(f"{base}/docs")
            page.wait_for_selector("#operations-tag-CarePlan", timeout=30_000)
            assert page.locator(".opblock-tag-section").count() > 20  # one per resource type and more
            page.click("#operations-tag-CarePlan")
            page.wait_for_selector('[data-path="/fhir/CarePlan/{id}/$revisions"]', timeout=10_000)
            page.click("#operations-tag-Patient")
            page.wait_for_selector('[data-path="/fhir/Patient/{id}/$meta"]', timeout=10_000)
            assert page.locator('[data-path="/fhir/Patient/{id}/$revisions"]').count() == 0
        finally:
            browser.close()
    assert requested
    assert all(url.startswith(f"{base}/") for url in requested), requested
    assert base.startswith("http://127.0.0.1:")
    assert not complaints, complaints

"""``fhirbridge report`` on the region of conftest.py, on SQLite and PostgreSQL: the same
figures as GET /report, to a file, and a clear error for a bad filter."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import httpx
import pytest

from fhirbridge.cli.main import main
from fhirbridge.config import get_settings
from fhirbridge.report.cellkey import MAX_NOISE
from tests.report.conftest import SECRET, service
from tests.report.test_report import report
from tests.security.tokens import SigningKey


def _run(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> int:
    monkeypatch.setenv("FHIRBRIDGE_DATABASE_URL", url)
    monkeypatch.setenv("FHIRBRIDGE_REPORT_MINIMUM_CELL", "5")
    monkeypatch.setenv("FHIRBRIDGE_REPORT_KEY_SECRET", SECRET)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            main(["report", *args])
    finally:
        get_settings.cache_clear()
    return int(exited.value.code or 0)


async def test_the_command_writes_the_figures(
    region: httpx.AsyncClient, key: SigningKey, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.json"
    code = await asyncio.to_thread(
        _run, monkeypatch, database_url, "--format", "json", "--output", str(out), "--period", "2026-T1"
    )
    assert code == 0
    body = json.loads(out.read_text(encoding="utf-8"))
    # The figures of GET /report, perturbed alike (the keys are stored with the records).
    published = await report(region, service(key))
    assert body["figures"] == published["figures"]
    units = next(f for f in body["figures"] if f["name"] == "contracts_by_unit")
    assert [c["key"] for c in units["cells"]] == [["org-a"], ["org-b"]]  # the home care's one is left out
    table = tmp_path / "report.csv"
    args = ("--output", str(table), "--period", "2026-01/2026-04", "--caregiver", "org-region")
    assert await asyncio.to_thread(_run, monkeypatch, database_url, *args) == 0
    rows = {(r["figure"], r["key"]): r["count"] for r in csv.DictReader(table.open(encoding="utf-8"))}
    tertial = await report(region, service(key), period="2026-T1", caregiver="org-region")
    total = next(f for f in tertial["figures"] if f["name"] == "contracts_by_unit")["total"]
    assert rows[("contracts_by_unit", "total")] == str(total) and abs(total - 13) <= MAX_NOISE


async def test_a_bad_filter_is_a_clear_error(
    region: httpx.AsyncClient, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(_run, monkeypatch, database_url, "--period", "2026-13") == 2
    assert "period='2026-13' is not a period" in capsys.readouterr().err
    assert await asyncio.to_thread(_run, monkeypatch, database_url, "--unit", "org-nowhere") == 2
    assert "unit=org-nowhere is not a unit" in capsys.readouterr().err

"""The fhirbridge command as an operator uses it: db upgrade, demo, load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirbridge.cli.main import main
from fhirbridge.config import get_settings
from tests.support import builders


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("FHIRBRIDGE_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)


def test_db_upgrade_then_demo_twice_changes_nothing_the_second_time(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("db", "upgrade") == 0
    assert run("demo", "--patients", "3") == 0
    first = capsys.readouterr().out
    assert "0 rejected" in first
    assert run("demo", "--patients", "3") == 0
    second = capsys.readouterr().out
    assert second.startswith("0 written")


def test_load_reports_rejections_and_loads_out_of_order_files(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = dict(builders.patient(), id="pat-1")
    plan = dict(builders.care_plan("pat-1"), id="plan-1")
    bad = {
        "resourceType": "Goal",
        "lifecycleStatus": "bogus",
        "description": {"text": "x"},
        "subject": {"reference": "Patient/pat-1"},
    }
    path = tmp_path / "contracts.ndjson"
    # The plan comes before the patient it refers to: the loader retries it after the others.
    path.write_text("\n".join(json.dumps(r) for r in (plan, bad, patient)) + "\n{not json\n")
    assert run("load", str(path)) == 1
    out = capsys.readouterr().out
    assert out.startswith("2 written, 0 unchanged, 2 rejected")
    assert "Goal.lifecycleStatus" in out
    assert f"{path}:4" in out


def test_load_a_bundle(database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": builders.patient()}, {"resource": builders.practitioner()}],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert run("load", str(path)) == 0
    assert capsys.readouterr().out.startswith("2 written")


def test_unsupported_database_url_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FHIRBRIDGE_DATABASE_URL", "mysql://x/y")
    get_settings.cache_clear()
    try:
        assert run("db", "upgrade") == 2
    finally:
        get_settings.cache_clear()
    assert "Unsupported database URL" in capsys.readouterr().err

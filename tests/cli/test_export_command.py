"""``fhirbridge export FOLDER`` and ``fhirbridge reindex`` as an operator runs them: NDJSON files
a type with every stored resource once, a refusal naming a bad option, a reindex that says
what it did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import database, run

__all__ = ["database"]  # the fixture


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_writes_one_ndjson_file_a_type(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("demo", "--patients", "3") == 0
    capsys.readouterr()
    folder = tmp_path / "out"
    assert run("export", str(folder)) == 0
    out = capsys.readouterr().out
    files = sorted(p.name for p in folder.iterdir())
    assert "Patient.ndjson" in files and "CarePlan.ndjson" in files and "AuditEvent.ndjson" not in files
    patients = _lines(folder / "Patient.ndjson")
    assert len(patients) >= 3 and len({p["id"] for p in patients}) == len(patients)
    assert f"{len(patients)} Patient in {folder / 'Patient.ndjson'}" in out
    total = sum(len(_lines(folder / name)) for name in files)
    assert out.strip().splitlines()[-1].startswith(f"{total} resources as of ")
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]

    only = tmp_path / "only"
    assert run("export", str(only), "--type", "Goal,Patient", "--patients") == 0
    assert sorted(p.name for p in only.iterdir()) == ["Goal.ndjson", "Patient.ndjson"]


def test_export_refuses_an_unknown_type_or_a_future_since(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("export", str(tmp_path / "x"), "--type", "Bogus") == 2
    assert "_type Bogus" in capsys.readouterr().err
    assert run("export", str(tmp_path / "x"), "--since", "2999-01-01T00:00:00+00:00") == 2
    assert "future" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_reindex_says_what_it_did(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("demo", "--patients", "2") == 0
    capsys.readouterr()
    assert run("reindex") == 0
    first = capsys.readouterr().out
    assert first.strip().endswith("resources reindexed") and not first.startswith("0 ")
    assert run("reindex", "--restart") == 0
    assert capsys.readouterr().out == first

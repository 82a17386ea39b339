"""``fhirbridge load`` as an operator meets it: a line that is no FHIR resource is refused by
its line number, saying plainly why, while the other lines load (each resource is its own
write, as it always was); a Bundle that is not valid JSON is refused whole, nothing of it
loaded; Bundles and NDJSON files are read one resource at a time."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from fhirbridge.load_files import read_resources, scan
from tests.cli.test_cli import database, run
from tests.support import builders

__all__ = ["database"]  # the fixture


def test_each_line_that_is_no_resource_is_named_with_what_is_wrong(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.ndjson"
    lines = [
        json.dumps(dict(builders.patient(), id="pat-1")),
        "[1, 2]",
        '"Patient"',
        "{}",
        '{"resourceType": "Observation", "status": "final"}',
        "",
        '{"resourceType": 7}',
        "{oops",
    ]
    path.write_text("\n".join(lines) + "\n")
    assert run("load", str(path)) == 1
    out = capsys.readouterr().out
    assert out.startswith("1 written, 0 unchanged, 6 rejected"), out
    expected = {
        2: "not a JSON object but an array",
        3: "not a JSON object but a string",
        4: "no resourceType",
        5: "unknown resourceType 'Observation'",
        7: "unknown resourceType 7:",
        8: "is not valid JSON",
    }
    for number, problem in expected.items():
        block = out.split(f"from {path}:{number}:\n", 1)[1].split("\n", 1)[0]
        assert problem in block, (number, block)
    assert "None is not" not in out
    assert f"{path}:1:" not in out  # the patient loaded


def _bundle(*resources: dict[str, object], type_first: bool = True) -> dict[str, object]:
    entries = {"entry": [{"resource": resource} for resource in resources]}
    head = {"resourceType": "Bundle", "type": "collection"}
    return {**head, **entries} if type_first else {**entries, **head}


def test_a_bundle_that_is_not_valid_json_loads_nothing(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = dict(builders.patient(), id="pat-1"), dict(builders.patient(), id="pat-2")
    whole = json.dumps(_bundle(first, second))
    path = tmp_path / "cut.json"
    path.write_text(whole[: whole.index('"pat-2"')])  # cut off inside the second entry
    assert run("load", str(path)) == 1
    out = capsys.readouterr().out
    assert out.startswith("0 written, 0 unchanged, 1 rejected"), out
    assert "is not valid JSON" in out
    path.write_text(whole)
    assert run("load", str(path)) == 0
    assert capsys.readouterr().out.startswith("2 written, 0 unchanged, 0 rejected")  # the first was not loaded before


def test_a_bundle_is_read_whatever_the_order_of_its_elements(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle(dict(builders.patient(), id="pat-1"), type_first=False)
    bundle["entry"].append({"fullUrl": "urn:uuid:5b3c1f0e-8f8a-4f4e-9d55-0f8b8f0c2a11"})  # type: ignore[attr-defined]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert run("load", str(path)) == 1
    out = capsys.readouterr().out
    assert out.startswith("1 written, 0 unchanged, 1 rejected"), out
    assert f"from {path}#entry[1]:\n    - the entry has no resource" in out


def test_a_large_bundle_is_read_one_entry_at_a_time(tmp_path: Path) -> None:
    note = "Patienten vill kunna gå till affären själv. " * 40  # about 2 kB a resource
    path = tmp_path / "large.json"
    resources = [dict(builders.goal("pat-1", text=note), id=f"goal-{n}") for n in range(5000)]
    path.write_text(json.dumps(_bundle(*resources)))
    assert path.stat().st_size > 10_000_000
    tracemalloc.start()
    try:
        file = scan(path)
        seen = sum(1 for _ in read_resources(file))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (file.count, seen) == (5000, 5000)
    assert peak < 2_000_000, peak  # a fifth of the file: never held whole

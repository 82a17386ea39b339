"""One person, one Patient from the command line, on SQLite and PostgreSQL: ``fhirbridge load``
reports a duplicate person as rejected, with its line and the Patient that holds the number;
``fhirbridge db check`` lists Patients that share a number and replaced Patients whose records
have not moved; ``fhirbridge db upgrade`` says why it will not add the unique numbers."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhirbridge.config import get_settings
from fhirbridge.storage.engines import open_database
from fhirbridge.storage.migrations import upgrade
from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM
from tests.cli.test_cli import run
from tests.support import builders
from tests.support.api import write_as_before

REGIONAL = "urn:oid:1.2.752.97.3.1.3"


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("FHIRBRIDGE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_load_rejects_the_copies_of_one_person_naming_the_line_and_the_holder(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    person = builders.patient()
    number = person["identifier"][0]["value"]
    path = tmp_path / "patients.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in [person] * 23 + [builders.patient()]))
    assert run("load", str(path)) == 1
    out = capsys.readouterr().out
    assert out.startswith("2 written, 0 unchanged, 22 rejected")
    holders = set(re.findall(rf"(Patient/[0-9a-f-]+) already holds personnummer {number}", out))
    assert len(holders) == 1
    for line in range(2, 24):
        assert f"rejected Patient/(new) from {path}:{line}:" in out
    assert f"{path}:1:" not in out and f"{path}:24:" not in out
    assert run("db", "check") == 0
    assert "one Patient per person" in capsys.readouterr().out


def test_db_check_lists_shared_numbers_and_unfinished_links(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two Patients with one regional reserve number, loaded before the system was declared."""
    first = dict(builders.patient(), id="regional-1")
    first["identifier"].append({"system": REGIONAL, "value": "99-1234"})
    second = dict(builders.patient(), id="regional-2")
    second["identifier"].append({"system": REGIONAL, "value": "99-1234"})
    path = tmp_path / "regional.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in (first, second)))
    assert run("load", str(path)) == 0
    capsys.readouterr()
    monkeypatch.setenv("FHIRBRIDGE_RESERVE_NUMBER_SYSTEMS", REGIONAL)
    get_settings.cache_clear()
    assert run("db", "check") == 1
    out = capsys.readouterr().out
    assert f"reserve number ({REGIONAL}) 99-1234: Patient/regional-1, Patient/regional-2" in out
    assert "POST Patient/$merge" in out
    assert PERSONNUMMER_SYSTEM not in out


def test_db_upgrade_refuses_while_patients_share_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("FHIRBRIDGE_DATABASE_URL", url)
    get_settings.cache_clear()
    upgrade(url, "0005")
    number = builders.personnummer()

    async def two_of_one_person() -> None:  # as the version before this one could write them
        database = await open_database(url)
        try:
            for patient_id in ("first", "second"):
                await write_as_before(database, dict(builders.patient(number), id=patient_id))
        finally:
            await database.close()

    asyncio.run(two_of_one_person())
    assert run("db", "check") == 1
    assert f"personnummer {number}: Patient/first, Patient/second" in capsys.readouterr().out
    assert run("db", "upgrade") == 1
    err = capsys.readouterr().err
    assert "the database was not upgraded" in err and "Patient/first, Patient/second" in err
    get_settings.cache_clear()

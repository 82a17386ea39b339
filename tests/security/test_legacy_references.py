"""Resources stored before the reference rule (issue 11), naming their patient by identifier,
by an absolute URL or by a display text: the access policy hides them from everyone but the
region's services, ``db check`` finds them, ``db repair`` resolves what it can through the write
path and lists the rest."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.access.guarded import GuardedRepository
from fhirbridge.cli.main import main
from fhirbridge.config import get_settings
from fhirbridge.fhir.instants import now_us
from fhirbridge.maintenance import references
from fhirbridge.search.index import extract_index
from fhirbridge.storage import versions
from fhirbridge.storage.database import Database
from fhirbridge.storage.engines import open_database
from fhirbridge.storage.records import StoredResource
from tests.conftest import BASE
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import PERSONNUMMER, World, patient_token, user_token
from tests.support import builders


def repository_of(app: FastAPI) -> GuardedRepository:
    repository: GuardedRepository = app.state.context.repository
    return repository


async def store_as_before(database: Database, resource_id: str, resource: dict[str, Any]) -> None:
    """Store a resource as an older version of the service did: straight into the tables,
    around the write path's reference rule."""
    stored = dict(resource, id=resource_id, meta={"versionId": "1", "lastUpdated": "2025-01-01T00:00:00Z"})
    record = StoredResource(resource["resourceType"], resource_id, 1, now_us(), False, json.dumps(stored).encode())
    async with database.transaction() as conn:
        await versions.save_version(
            conn, record, previous_pk=None, method="POST", rows=extract_index(record.resource_type, stored), links=[]
        )


async def test_legacy_references_are_hidden_found_and_repaired(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    database = repository_of(secure_app).database
    by_number = {"identifier": {"system": PERSONNUMMER, "value": world.numbers["anna"]}}
    await store_as_before(database, "legacy-by-number", builders.care_plan("x", subject=by_number))
    absolute = {"reference": f"{BASE}/fhir/Patient/{world['anna']}"}
    await store_as_before(database, "legacy-absolute", builders.care_plan("x", subject=absolute))
    display = {"display": "Anna"}
    await store_as_before(database, "legacy-display", dict(builders.goal("x"), subject=display))
    unknown = {"identifier": {"system": PERSONNUMMER, "value": "191212121212"}}
    await store_as_before(database, "legacy-nobody", builders.care_plan("x", subject=unknown))
    names = ["legacy-by-number", "legacy-absolute", "legacy-nobody"]

    anna = patient_token(ec, world, "anna")
    doctor = user_token(rsa, world, "doctor", "hospital")
    service = bearer(mint(rsa, scope="system/*.rs"))
    for plan in names:
        assert (await anyone.get(f"/fhir/CarePlan/{plan}", headers=anna)).status_code == 404
        assert (await anyone.get(f"/fhir/CarePlan/{plan}", headers=doctor)).status_code == 403
        assert (await anyone.get(f"/fhir/CarePlan/{plan}", headers=service)).status_code == 200
    searched = await anyone.get("/fhir/CarePlan", params={"subject:identifier": world.numbers["anna"]}, headers=doctor)
    assert searched.json().get("entry", []) == []
    assert (await anyone.get("/fhir/Goal/legacy-display", headers=doctor)).status_code == 403

    repository = repository_of(secure_app)
    bases = (f"{BASE}/fhir",)
    found = [finding async for finding in references.find(repository, bases)]
    assert {f.reference for f in found} == {*(f"CarePlan/{n}" for n in names), "Goal/legacy-display"}
    report = await references.repair(repository, f"{BASE}/fhir", found)
    assert sorted(report.repaired) == ["CarePlan/legacy-absolute", "CarePlan/legacy-by-number"]
    assert {finding.reference for finding, _ in report.left} == {"CarePlan/legacy-nobody", "Goal/legacy-display"}
    assert all("subject" in reason for _, reason in report.left)

    for plan in ("legacy-by-number", "legacy-absolute"):
        repaired = await anyone.get(f"/fhir/CarePlan/{plan}", headers=anna)
        assert repaired.status_code == 200, repaired.text
        assert repaired.json()["subject"]["reference"] == f"Patient/{world['anna']}"
        assert repaired.json()["meta"]["versionId"] == "2"
        assert (await anyone.get(f"/fhir/CarePlan/{plan}", headers=doctor)).status_code == 200
    bertil = patient_token(ec, world, "bertil")
    assert (await anyone.get("/fhir/CarePlan/legacy-by-number", headers=bertil)).status_code == 404
    left = [finding async for finding in references.find(repository, bases)]
    assert {f.reference for f in left} == {"CarePlan/legacy-nobody", "Goal/legacy-display"}


def test_db_check_and_repair_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FHIRBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("FHIRBRIDGE_BASE_URL", "https://fhir.region.example/fhir")
    get_settings.cache_clear()
    patient = dict(builders.patient(), id="pat-1")
    number = next(i for i in patient["identifier"] if i["system"] == PERSONNUMMER)
    path = tmp_path / "data.ndjson"
    path.write_text(json.dumps(patient) + "\n")
    try:
        assert _run("load", str(path)) == 0
        assert _run("db", "check") == 0
        assert "0 resource(s)" in capsys.readouterr().out

        async def legacy() -> None:
            database = await open_database(get_settings().database_url)
            try:
                await store_as_before(database, "legacy-plan", builders.care_plan("x", subject={"identifier": number}))
            finally:
                await database.close()

        asyncio.run(legacy())
        assert _run("db", "check") == 1
        out = capsys.readouterr().out
        assert "CarePlan/legacy-plan" in out and "CarePlan.subject" in out
        assert _run("db", "repair") == 0
        assert "1 repaired, 0 could not be repaired" in capsys.readouterr().out
        assert _run("db", "check") == 0
    finally:
        get_settings.cache_clear()


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)

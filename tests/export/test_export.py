"""Bulk Data 2.0 export as a client drives it (export.html): kick-off, status polling, the
manifest, the NDJSON files, ``_type``, ``_since``, ``_typeFilter``, and bad kick-offs that store
nothing; on SQLite and PostgreSQL, with tokens."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.fhir.instants import format_instant, now_us
from tests.export.conftest import ASYNC, download, export, finished, ids, kick_off, stored_jobs
from tests.security.callers import admin, admin_post
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support import builders
from tests.support.api import expressions, outcome


async def test_a_system_export_holds_every_resource_once_in_one_file_a_type(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    region = admin(rsa)
    status_url = await kick_off(anyone, region)
    assert status_url.startswith("http://fhirbridge.test/fhir/$export-status/")
    manifest = await finished(anyone, status_url, region)
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"] == "http://fhirbridge.test/fhir/$export"
    assert manifest["transactionTime"].endswith("+00:00")
    assert manifest["error"] == []
    assert len({output["type"] for output in manifest["output"]}) == len(manifest["output"])
    found = await download(anyone, manifest, region)
    assert ids(found, "Patient") == {world["anna"], world["bertil"]}
    assert ids(found, "CarePlan") == {world["anna-plan"], world["bertil-plan"], world["anna-internal-plan"]}
    assert ids(found, "Goal") == {world["anna-goal"], world["bertil-goal"]}
    assert ids(found, "Organization") == {world[u] for u in ("region", "hospital", "outsider", "other-outsider")}
    plan = next(p for p in found["CarePlan"] if p["id"] == world["anna-plan"])
    read = (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=region)).json()
    assert plan == read  # the line is the resource as a read answers it, meta and all
    assert "AuditEvent" not in found and "Subscription" not in found
    for lines in found.values():
        assert len(ids(found, lines[0]["resourceType"])) == len(lines)  # none twice


async def test_type_since_and_type_filter_narrow_the_export(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    region = admin(rsa)
    found = await export(anyone, region, _type="Patient,Goal")
    assert set(found) == {"Patient", "Goal"}
    await asyncio.sleep(0.01)
    since = format_instant(now_us())
    await asyncio.sleep(0.01)
    later = await admin_post(anyone, rsa, builders.patient(family="Senare"))
    changed = await export(anyone, region, _since=since)
    assert set(changed) == {"Patient", "Provenance"}  # the write's own record comes with it
    assert ids(changed, "Patient") == {later["id"]}
    assert [p["target"] for p in changed["Provenance"]] == [[{"reference": f"Patient/{later['id']}/_history/1"}]]
    filtered = await export(anyone, region, _type="CarePlan", _typeFilter=f"CarePlan?_id={world['bertil-plan']}")
    assert ids(filtered, "CarePlan") == {world["bertil-plan"]}
    nothing = await finished(anyone, await kick_off(anyone, region, _type="Appointment"), region)
    assert nothing["output"] == []


async def test_a_patient_export_holds_the_patients_and_what_names_them(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    found = await export(anyone, admin(rsa), "/fhir/Patient/$export")
    assert ids(found, "Patient") == {world["anna"], world["bertil"]}
    assert ids(found, "CareTeam") == {world["anna-team"], world["bertil-team"]}
    assert "Organization" not in found and "Practitioner" not in found


async def test_many_pages_are_written_whole(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fhirbridge.export.plan.PAGE", 2)
    for number in range(5):
        await admin_post(anyone, rsa, builders.patient(family=f"Sida{number}"))
    found = await export(anyone, admin(rsa), _type="Patient,Organization")
    assert len(ids(found, "Patient")) == 7 and len(found["Patient"]) == 7
    assert len(found["Organization"]) == 4


BAD_KICK_OFFS: list[tuple[dict[str, str], dict[str, str], str]] = [
    ({"_type": "Bogus"}, {}, "_type"),
    ({"_type": "Subscription"}, {}, "_type"),
    ({"_type": ""}, {}, "_type"),
    ({"_since": "yesterday"}, {}, "_since"),
    ({"_since": "2026-02-30T10:00:00+01:00"}, {}, "_since"),
    ({"_since": "2999-01-01T00:00:00+00:00"}, {}, "_since"),
    ({"_outputFormat": "text/csv"}, {}, "_outputFormat"),
    ({"_typeFilter": "CarePlan?bogus=1"}, {}, "_typeFilter"),
    ({"_typeFilter": "CarePlan"}, {}, "_typeFilter"),
    ({"_type": "Goal", "_typeFilter": "CarePlan?status=active"}, {}, "_typeFilter"),
    ({"_typeFilter": "CarePlan?_has:Goal:subject:status=active"}, {}, "_typeFilter"),
    ({"patient": "Patient/1"}, {}, "patient"),
    ({}, {"Prefer": "respond-sync"}, "Prefer"),
]


@pytest.mark.parametrize(("params", "headers", "named"), BAD_KICK_OFFS)
async def test_a_bad_kick_off_is_a_400_naming_it_and_stores_nothing(
    anyone: httpx.AsyncClient,
    secure_app: FastAPI,
    rsa: SigningKey,
    params: dict[str, str],
    headers: dict[str, str],
    named: str,
) -> None:
    sent = {**ASYNC, **admin(rsa), **headers}
    for path in ("/fhir/$export", "/fhir/Patient/$export"):
        body = outcome(await anyone.get(path, params=params, headers=sent), 400)
        assert named in expressions(body), body
    assert await stored_jobs(secure_app) == 0


async def test_a_type_outside_a_patient_export_and_an_unknown_group_are_refused(
    anyone: httpx.AsyncClient, secure_app: FastAPI, rsa: SigningKey
) -> None:
    region = {**ASYNC, **admin(rsa)}
    body = outcome(await anyone.get("/fhir/Patient/$export", params={"_type": "Organization"}, headers=region), 400)
    assert expressions(body) == ["_type"]
    outcome(await anyone.get("/fhir/Group/1/$export", headers=region), 404)
    outcome(await anyone.get("/fhir/$export", headers=ASYNC), 401)
    assert await stored_jobs(secure_app) == 0


async def test_the_capability_statement_declares_the_kick_offs(anyone: httpx.AsyncClient) -> None:
    statement = (await anyone.get("/fhir/metadata")).json()
    rest = statement["rest"][0]
    assert [(op["name"], op["definition"]) for op in rest["operation"] if op["name"] == "export"] == [
        ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export")
    ]
    by_type: dict[str, Any] = {resource["type"]: resource for resource in rest["resource"]}
    patient_ops = {op["name"]: op["definition"] for op in by_type["Patient"]["operation"]}
    assert patient_ops["export"] == "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
    group_ops = {op["name"]: op["definition"] for op in by_type["Group"]["operation"]}
    assert group_ops["export"] == "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
    assert not any(
        op["name"] == "export"
        for t, r in by_type.items()
        if t not in ("Patient", "Group")
        for op in r.get("operation", [])
    )

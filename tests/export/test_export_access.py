"""Who may export what (docs/security.md): an export holds exactly what its caller's searches
return, as they return it; a patient's token is refused; a job answers only the caller who
started it.  Thought through as an attacker holding one token and guessing at another's job."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.export.plan import EXPORTED
from tests.export.conftest import ASYNC, export, finished, kick_off, stored_jobs
from tests.security.callers import admin, block_hospital, doctor, relative, service, stranger, unit_system
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, patient_token
from tests.support.api import outcome

CALLERS = ("doctor", "stranger", "outsider-system", "service")


def _token(name: str, key: SigningKey, world: World) -> dict[str, str]:
    if name == "doctor":
        return doctor(key, world)
    if name == "stranger":
        return stranger(key, world)
    if name == "outsider-system":
        return unit_system(key, world)
    return service(key)


async def _searched(client: httpx.AsyncClient, headers: dict[str, str], resource_type: str) -> list[dict[str, object]]:
    url = f"/fhir/{resource_type}?_count=1000"
    resources = []
    while url:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        resources += [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), "")
    return resources


@pytest.mark.parametrize("caller", CALLERS)
async def test_an_export_holds_what_the_callers_searches_return(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey, caller: str
) -> None:
    await block_hospital(anyone, rsa, world)  # Anna blocks the hospital: its doctor's view narrows
    headers = _token(caller, ec, world)
    found = await export(anyone, headers)
    for resource_type in EXPORTED:
        if resource_type == "AuditEvent":
            continue
        searched = await _searched(anyone, headers, resource_type)
        exported = found.get(resource_type, [])
        assert sorted(exported, key=lambda r: str(r["id"])) == sorted(searched, key=lambda r: str(r["id"])), (
            caller,
            resource_type,
        )
    if caller == "stranger":  # no care relation to either patient: none of their records
        exported_ids = {resource["id"] for resources in found.values() for resource in resources}
        assert not exported_ids & {world[n] for n in ("anna", "bertil", "anna-plan", "bertil-plan", "anna-goal")}


async def test_a_patients_or_relatives_token_cannot_export(
    anyone: httpx.AsyncClient, secure_app: FastAPI, world: World, ec: SigningKey
) -> None:
    for headers in (patient_token(ec, world, "anna"), relative(ec, world)):
        for path in ("/fhir/$export", "/fhir/Patient/$export"):
            outcome(await anyone.get(path, headers={**ASYNC, **headers}), 403)
    assert await stored_jobs(secure_app) == 0


async def test_scopes_bound_the_types(anyone: httpx.AsyncClient, world: World, ec: SigningKey) -> None:
    goals_only = unit_system(ec, world, "hospital", scope="system/Goal.rs system/Patient.r")
    found = await export(anyone, goals_only)
    assert set(found) <= {"Goal", "Patient"} and found
    body = outcome(
        await anyone.get("/fhir/$export", params={"_type": "CarePlan"}, headers={**ASYNC, **goals_only}), 403
    )
    assert "CarePlan" in body["issue"][0]["diagnostics"]
    nothing = unit_system(ec, world, "hospital", scope="system/Subscription.cruds")
    outcome(await anyone.get("/fhir/$export", headers={**ASYNC, **nothing}), 403)


async def test_a_job_answers_only_the_caller_who_started_it(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, ec: SigningKey
) -> None:
    region = admin(rsa)
    status_url = await kick_off(anyone, region)
    manifest = await finished(anyone, status_url, region)
    file_url = manifest["output"][0]["url"]
    others = [
        stranger(ec, world),
        patient_token(ec, world, "anna"),
        service(ec),  # another client with the same scopes
        bearer(mint(rsa, scope="system/*.rs", client_id="region-integration")),  # same client, other scopes
        unit_system(ec, world, "hospital"),
    ]
    for other in others:
        outcome(await anyone.get(status_url, headers=other), 404)
        outcome(await anyone.get(file_url, headers=other), 404)
        outcome(await anyone.delete(status_url, headers=other), 404)
    outcome(await anyone.get(file_url), 401)
    outcome(await anyone.get(status_url), 401)
    for guessed in ("../../etc/passwd", "Patient.ndjson.part", "x.ndjson"):
        response = await anyone.get(file_url.rsplit("/", 1)[0] + "/" + guessed, headers=region)
        assert response.status_code == 404
    again = await anyone.get(status_url, headers=admin(rsa))  # a new token of the same caller
    assert again.status_code == 200

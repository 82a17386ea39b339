"""PATCH entries of batch and transaction Bundles in production mode: judged as the instance
PATCH is (tests/security/test_patch_access.py), before the patch is applied, and logged the same
way: a patient cannot probe another's plan with a ``test`` operation, an outsider is refused and
the attempt is in the patient's access log, and in a batch the refused entry fails alone."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.security.callers import admin, anna_writer, doctor, stranger
from tests.security.test_patient_data_act import log_of
from tests.security.tokens import SigningKey
from tests.security.world import World
from tests.support.api import outcome


def _entry(url: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(operations).encode()).decode()
    return {
        "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
        "request": {"method": "PATCH", "url": url},
    }


def _bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _probe(title: str) -> list[dict[str, Any]]:
    return [{"op": "test", "path": "/title", "value": title}, {"op": "replace", "path": "/status", "value": "revoked"}]


async def test_a_patient_cannot_probe_another_patients_plan_through_a_transaction(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    anna = anna_writer(rsa, world)
    plan = f"CarePlan/{world['bertil-plan']}"
    right = outcome(
        await anyone.post("/fhir", json=_bundle("transaction", _entry(plan, _probe("Patientkontrakt"))), headers=anna),
        404,
    )
    wrong = outcome(
        await anyone.post("/fhir", json=_bundle("transaction", _entry(plan, _probe("Annat"))), headers=anna), 404
    )
    assert right["issue"] == wrong["issue"]  # the test operation was never evaluated
    by_criteria = _entry(f"CarePlan?_id={world['bertil-plan']}", _probe("Patientkontrakt"))
    outcome(await anyone.post("/fhir", json=_bundle("transaction", by_criteria), headers=anna), 404)
    own = _entry(f"CarePlan/{world['anna-plan']}", _probe("Patientkontrakt"))
    outcome(await anyone.post("/fhir", json=_bundle("transaction", own), headers=anna), 403)
    for name in ("bertil-plan", "anna-plan"):
        stored = (await anyone.get(f"/fhir/CarePlan/{world[name]}", headers=admin(rsa))).json()
        assert stored["meta"]["versionId"] == "1" and stored["status"] == "active"


async def test_an_outsiders_patch_entry_is_refused_and_logged_as_the_instance_patch_is(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    plan = f"CarePlan/{world['bertil-plan']}"
    change = [{"op": "replace", "path": "/title", "value": "Ändrad"}]
    outsider = stranger(rsa, world)
    patient = f"Patient/{world['bertil']}"
    before = len(await log_of(anyone, rsa, patient=patient))
    alone = outcome(
        await anyone.patch(
            f"/fhir/{plan}", json=change, headers={**outsider, "Content-Type": "application/json-patch+json"}
        ),
        403,
    )
    in_transaction = outcome(
        await anyone.post("/fhir", json=_bundle("transaction", _entry(plan, change)), headers=outsider), 403
    )
    assert in_transaction["issue"][0]["expression"][0].startswith("Bundle.entry[0]")
    assert alone["issue"][0]["diagnostics"] in in_transaction["issue"][0]["diagnostics"]
    batch = await anyone.post(
        "/fhir",
        json=_bundle("batch", _entry(plan, change), _entry(f"CarePlan/{world['anna-plan']}", change)),
        headers=outsider,
    )
    assert [e["response"]["status"] for e in batch.json()["entry"]] == ["403", "403"]
    logged = await log_of(anyone, rsa, patient=patient)
    events = [(e["subtype"][0]["code"], e["outcome"], e.get("outcomeDesc")) for e in logged[before:]]
    assert ("patch", "4", f"HTTP 403: {alone['issue'][0]['diagnostics']}") in events
    told = in_transaction["issue"][0]["diagnostics"]
    assert ("transaction", "4", f"HTTP 403: {told}") in events  # refused, with what the outsider was told
    # the batch is one request, answered 200: its event names Bertil (the attempt is in his log)
    assert ("transaction", "0", "HTTP 200") in events
    assert all("Ändrad" not in json.dumps(e) for e in logged[before:])
    assert (await anyone.get(f"/fhir/{plan}", headers=admin(rsa))).json()["meta"]["versionId"] == "1"


async def test_the_care_team_patches_in_a_batch_beside_a_refused_entry(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    change = [{"op": "replace", "path": "/title", "value": "Uppdaterad"}]
    batch = await anyone.post(
        "/fhir",
        json=_bundle("batch", _entry(f"CarePlan/{world['anna-plan']}", change), _entry("Patient/no-such", change)),
        headers=doctor(rsa, world),
    )
    assert [e["response"]["status"] for e in batch.json()["entry"]] == ["200 OK", "404"]
    stored = (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=admin(rsa))).json()
    assert stored["title"] == "Uppdaterad" and stored["meta"]["versionId"] == "2"


async def test_a_fhirpath_patch_is_judged_before_its_paths_are_evaluated(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    """A where() clause could tell, by a 409 or not, what another patient's plan holds."""

    def probe(title: str) -> dict[str, Any]:
        parts = [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": f"CarePlan.where(title = '{title}').status"},
            {"name": "value", "valueCode": "revoked"},
        ]
        return {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": parts}]}

    anna = {**anna_writer(rsa, world), "Content-Type": "application/fhir+json"}
    url = f"/fhir/CarePlan/{world['bertil-plan']}"
    right = outcome(await anyone.patch(url, json=probe("Patientkontrakt"), headers=anna), 404)
    wrong = outcome(await anyone.patch(url, json=probe("Annat"), headers=anna), 404)
    assert right["issue"] == wrong["issue"]
    entry = {"resource": probe("Patientkontrakt"), "request": {"method": "PATCH", "url": url.removeprefix("/fhir/")}}
    outcome(await anyone.post("/fhir", json=_bundle("transaction", entry), headers=anna), 404)
    assert (await anyone.get(url, headers=admin(rsa))).json()["meta"]["versionId"] == "1"

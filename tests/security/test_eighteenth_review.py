"""Eighteenth review (of issue 12's kept facts, read-ahead and kept directory): a write must not
take the caller's units from a read made before its transaction, and a write's read-ahead must
not let a body naming thousands of patients cost thousands of reads or fill what is kept."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.access.policy import MOST_READ_AHEAD, AccessPolicy, PatientDecision
from fhirbridge.identity import Identity
from tests.security.callers import ADMIN
from tests.security.read_ahead import writes_after_the_read_ahead
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, user_token
from tests.support import builders


async def test_a_unit_moved_out_between_the_read_ahead_and_the_write_gives_no_care_relation(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The region's directory sync moves the caller's unit out from under the hospital after the
    write has read ahead and before its transaction: the write is judged on the directory as its
    transaction sees it (HIGH before the fix: 201 by a caller with no care relation)."""
    admin = bearer(mint(rsa, scope=ADMIN))
    stranger = user_token(rsa, world, "stranger", "outsider")
    unit_path = f"/fhir/Organization/{world['outsider']}"
    unit = (await anyone.get(unit_path, headers=admin)).json()
    below = dict(unit, partOf={"reference": f"Organization/{world['hospital']}"})
    assert (await anyone.put(unit_path, json=below, headers=admin)).status_code == 200
    goal = builders.goal(world["anna"], "Anna vill baka bröd")
    assert (await anyone.post("/fhir/Goal", json=goal, headers=stranger)).status_code == 201  # under the hospital
    between = writes_after_the_read_ahead(monkeypatch)
    current = (await anyone.get(unit_path, headers=admin)).json()
    out = {key: value for key, value in current.items() if key != "partOf"}
    between.append(lambda: anyone.put(unit_path, json=out, headers=admin))
    assert (await anyone.post("/fhir/Goal", json=goal, headers=stranger)).status_code == 403
    assert not between  # the move did happen between the two
    assert (await anyone.post("/fhir/Goal", json=goal, headers=stranger)).status_code == 403


async def test_a_body_naming_thousands_of_patients_reads_ahead_about_a_few(
    app: FastAPI, anyone: httpx.AsyncClient, world: World, rsa: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MEDIUM before the fix: an Appointment naming 2,000 patients who do not exist made a
    refused write read about each of them before its transaction, and put each into what the
    service keeps (20,000 places, so a few such requests pushed every real patient out)."""
    stranger = user_token(rsa, world, "stranger", "outsider")
    decided: list[str] = []
    decide = AccessPolicy._decide

    async def counting(policy: AccessPolicy, identity: Identity, patient_id: str) -> PatientDecision:
        decided.append(patient_id)
        return await decide(policy, identity, patient_id)

    monkeypatch.setattr(AccessPolicy, "_decide", counting)
    appointment = {
        "resourceType": "Appointment",
        "status": "proposed",
        "participant": [{"actor": {"reference": f"Patient/nobody-{n}"}, "status": "needs-action"} for n in range(2000)],
    }
    response = await anyone.post("/fhir/Appointment", json=appointment, headers=stranger)
    assert response.status_code in (403, 422), response.text[:300]
    nobody = [patient for patient in decided if patient.startswith("nobody-")]
    assert len(set(nobody)) <= MOST_READ_AHEAD + 1, len(set(nobody))  # ahead, and the write's first refusal
    kept = app.state.context.repository.policy.kept
    assert sum(1 for n in range(2000) if kept.get(f"nobody-{n}") is not None) <= MOST_READ_AHEAD + 1

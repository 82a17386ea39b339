"""search-system in production mode: each named type is searched as the caller may search it,
so a patient's token finds only their own resources, and nothing tells of anyone else's."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.callers import stranger
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, patient_token, user_token
from tests.support.api import link, match_ids, outcome


async def test_a_patients_token_finds_only_her_own_and_learns_nothing_of_others(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    anna = patient_token(rsa, world, "anna")
    params = {"_type": "CarePlan,Goal,CareTeam", "_count": "1"}
    found = []
    for page in await pages_with(anyone, params, anna):
        assert "total" not in page
        found += match_ids(page)
    # her own plan, goal and team; not the plan kept from her (NOPATIENT), nor anything of Bertil's
    assert sorted(found) == sorted([world["anna-plan"], world["anna-goal"], world["anna-team"]])
    for name in ("bertil-plan", "bertil-goal", "anna-internal-plan"):
        probe = await anyone.get("/fhir", params={"_type": "CarePlan,Goal", "_id": world[name]}, headers=anna)
        assert probe.status_code == 200 and match_ids(probe.json()) == []
    admin = bearer(mint(rsa, scope="system/*.cruds", client_id="region-integration"))
    everything = await anyone.get("/fhir", params={"_type": "CarePlan", "_count": "50"}, headers=admin)
    assert world["bertil-plan"] in match_ids(everything.json())


async def test_a_clinician_sees_only_the_patients_of_a_care_relation_and_scopes_hold(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    doctor = user_token(rsa, world, "doctor", "hospital")
    seen = await anyone.get("/fhir", params={"_type": "CarePlan", "_count": "50"}, headers=doctor)
    assert world["anna-plan"] in match_ids(seen.json())
    hidden = await anyone.get("/fhir", params={"_type": "CarePlan", "_count": "50"}, headers=stranger(rsa, world))
    assert world["anna-plan"] not in match_ids(hidden.json())
    narrow = bearer(mint(rsa, scope="patient/CarePlan.rs", fhirUser=f"Patient/{world['anna']}", patient=world["anna"]))
    outcome(await anyone.get("/fhir", params={"_type": "CarePlan,Goal"}, headers=narrow), 403)
    outcome(await anyone.get("/fhir", params={"_type": "CarePlan"}), 401)


async def pages_with(client: httpx.AsyncClient, params: dict[str, str], token: dict[str, str]) -> list[dict[str, Any]]:
    """Every page, following next links with the token."""
    response = await client.get("/fhir", params=params, headers=token)
    assert response.status_code == 200, response.text
    found = [response.json()]
    while (following := link(found[-1], "next")) is not None:
        assert len(found) < 50
        response = await client.get(following, headers=token)
        assert response.status_code == 200, response.text
        found.append(response.json())
    return found

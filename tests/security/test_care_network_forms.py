"""The care relation is read from the care network whatever form its references take: a member
named by HSA-id, a unit by an absolute URL to this server (issue 11)."""

from __future__ import annotations

import httpx

from fhirbridge.sweden.identifiers import HSA_SYSTEM
from tests.conftest import BASE
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, user_token


async def test_a_member_by_hsa_id_and_a_unit_by_absolute_url_give_the_care_relation(
    anyone: httpx.AsyncClient, world: World, rsa: SigningKey
) -> None:
    admin = bearer(mint(rsa, scope="system/*.cruds", client_id="region-integration"))
    stranger = user_token(rsa, world, "stranger", "outsider")
    helper = user_token(rsa, world, "helper", "other-outsider")
    plan = f"/fhir/CarePlan/{world['bertil-plan']}"
    assert (await anyone.get(plan, headers=stranger)).status_code == 403
    assert (await anyone.get(plan, headers=helper)).status_code == 403
    practitioner = (await anyone.get(f"/fhir/Practitioner/{world['stranger']}", headers=admin)).json()
    hsa_id = next(i["value"] for i in practitioner["identifier"] if i["system"] == HSA_SYSTEM)
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['bertil']}"},
        "managingOrganization": [{"reference": f"{BASE}/fhir/Organization/{world['other-outsider']}"}],
        "participant": [{"member": {"identifier": {"system": HSA_SYSTEM, "value": hsa_id}}}],
    }
    created = await anyone.post("/fhir/CareTeam", json=team, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["participant"][0]["member"]["reference"] == f"Practitioner/{world['stranger']}"
    assert (await anyone.get(plan, headers=stranger)).status_code == 200  # named on the team by HSA-id
    assert (await anyone.get(plan, headers=helper)).status_code == 200  # the team's unit, by absolute URL

"""Chained and reverse-chained parameters, _include and _revinclude (R4 search.html#chaining,
#has, #include), as journal systems use them: by personnummer and HSA-id."""

from __future__ import annotations

import httpx

from tests.search.conftest import HSA, PNR, World, entry_ids


async def test_chain_by_personnummer(client: httpx.AsyncClient, world: World) -> None:
    for name in ("subject:Patient.identifier", "subject.identifier", "patient.identifier"):
        bundle = (await client.get("/fhir/CarePlan", params={name: f"{PNR}|{world.numbers['anna']}"})).json()
        assert entry_ids(bundle) == {f"CarePlan/{world.ids['contract-anna']}", f"CarePlan/{world.ids['sip-anna']}"}, (
            name
        )


async def test_chain_with_a_string_parameter_and_a_modifier(client: httpx.AsyncClient, world: World) -> None:
    bundle = (await client.get("/fhir/CarePlan", params={"subject:Patient.family": "aberg"})).json()
    assert len(entry_ids(bundle)) == 2
    bundle = (await client.get("/fhir/CarePlan", params={"subject:Patient.family:exact": "Berg"})).json()
    assert entry_ids(bundle) == {f"CarePlan/{world.ids['contract-bertil']}"}


async def test_two_level_chain_through_the_care_team_to_an_hsa_id(client: httpx.AsyncClient, world: World) -> None:
    bundle = (
        await client.get("/fhir/CarePlan", params={"care-team.participant.identifier": f"{HSA}|SE2321000198-P0KL1"})
    ).json()
    assert entry_ids(bundle) == {f"CarePlan/{world.ids['contract-anna']}"}


async def test_reverse_chain_finds_patients_with_a_contract(client: httpx.AsyncClient, world: World) -> None:
    has_contract = {"_has:CarePlan:subject:category": "patientkontrakt"}
    assert entry_ids((await client.get("/fhir/Patient", params=has_contract)).json()) == {
        f"Patient/{world.ids['anna']}",
        f"Patient/{world.ids['bertil']}",
    }
    has_sip = {"_has:CarePlan:subject:category": "sip"}
    assert entry_ids((await client.get("/fhir/Patient", params=has_sip)).json()) == {f"Patient/{world.ids['anna']}"}


async def test_a_patients_contracts_with_care_teams_goals_and_members(client: httpx.AsyncClient, world: World) -> None:
    params = [
        ("subject", f"Patient/{world.ids['anna']}"),
        ("category", "patientkontrakt"),
        ("_include", "CarePlan:care-team"),
        ("_include", "CarePlan:goal"),
        ("_include:iterate", "CareTeam:participant"),
        ("_revinclude", "Provenance:target"),
    ]
    bundle = (await client.get("/fhir/CarePlan", params=params)).json()
    assert entry_ids(bundle) == {f"CarePlan/{world.ids['contract-anna']}"}
    included = entry_ids(bundle, "include")
    provenances = {address for address in included if address.startswith("Provenance/")}
    assert included - provenances == {
        f"CareTeam/{world.ids['team-anna']}",
        f"Goal/{world.ids['goal-anna']}",
        f"Practitioner/{world.ids['karin']}",
    }
    # The world's own Provenance, and the ones the server recorded for the contract's writes.
    assert f"Provenance/{world.ids['provenance']}" in provenances
    recorded = (
        await client.get("/fhir/Provenance", params={"target": f"CarePlan/{world.ids['contract-anna']}"})
    ).json()
    assert provenances == {f"Provenance/{e['resource']['id']}" for e in recorded["entry"]}
    assert bundle["total"] == 1


async def test_include_without_iterate_does_not_follow_included_resources(
    client: httpx.AsyncClient, world: World
) -> None:
    params = [
        ("_id", world.ids["contract-anna"]),
        ("_include", "CarePlan:care-team"),
        ("_include", "CareTeam:participant"),
    ]
    response = await client.get("/fhir/CarePlan", params=params)
    assert response.status_code == 400
    bundle = (await client.get("/fhir/CarePlan", params=params[:2])).json()
    assert entry_ids(bundle, "include") == {f"CareTeam/{world.ids['team-anna']}"}


async def test_include_with_a_target_type(client: httpx.AsyncClient, world: World) -> None:
    params = {"_id": world.ids["provenance"], "_include": "Provenance:agent:Practitioner"}
    bundle = (await client.get("/fhir/Provenance", params=params)).json()
    assert entry_ids(bundle, "include") == {f"Practitioner/{world.ids['karin']}"}
    params["_include"] = "Provenance:agent:Organization"
    assert entry_ids((await client.get("/fhir/Provenance", params=params)).json(), "include") == set()


async def test_unknown_chain_is_reported_or_refused(client: httpx.AsyncClient, world: World) -> None:
    lenient = (await client.get("/fhir/CarePlan", params={"subject.nonsense": "x"})).json()
    outcome = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and outcome[0]["resource"]["issue"][0]["severity"] == "warning"
    strict = await client.get("/fhir/CarePlan", params={"subject.nonsense": "x"}, headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400

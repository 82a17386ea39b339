"""Search as a client sees it (R4 search.html, http.html#search): parameter types, modifiers,
prefixes, paging, and how unknown or unsupported parameters are reported."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.support import builders
from tests.support.api import create, link, match_ids, outcome, outcome_entries, pages


@pytest.fixture
async def people(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Three patients and a practitioner, with contracts and goals referring to them."""
    asa = await create(
        client,
        dict(
            builders.patient(family="Öberg", given="Åsa"),
            gender="female",
            birthDate="1950-03-15",
            telecom=[{"system": "phone", "value": "+46701234567"}],
            address=[{"city": "Göteborg", "postalCode": "41319"}],
            meta={"profile": ["http://electronichealth.se/fhir/StructureDefinition/SEBasePatient"]},
        ),
    )
    tolvan = await create(client, builders.patient())
    nils = await create(client, dict(builders.patient(family="Nilsson", given="Nils"), birthDate="1999-12-31"))
    del nils["gender"]
    nils = (await client.put(f"/fhir/Patient/{nils['id']}", json=nils)).json()
    karin = await create(client, builders.practitioner())
    plan = await create(
        client,
        builders.care_plan(
            asa["id"],
            identifier=[builders.contract_identifier("k-1")],
            author={"reference": f"Practitioner/{karin['id']}"},
            period={"start": "2026-01-01", "end": "2026-06-30"},
        ),
    )
    draft = await create(client, builders.care_plan(tolvan["id"], status="draft"))
    return {"asa": asa, "tolvan": tolvan, "nils": nils, "karin": karin, "plan": plan, "draft": draft}


async def search(client: httpx.AsyncClient, resource_type: str, params: Any = None) -> list[str]:
    response = await client.get(f"/fhir/{resource_type}", params=params)
    assert response.status_code == 200, response.text
    return match_ids(response.json())


async def test_searchset_bundle_shape(client: httpx.AsyncClient, people: dict) -> None:
    response = await client.get("/fhir/Patient", params={"family": "Öberg"})
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == 1
    (entry,) = bundle["entry"]
    assert entry["fullUrl"] == f"http://fhirbridge.test/fhir/Patient/{people['asa']['id']}"
    assert entry["search"]["mode"] == "match"
    assert entry["resource"] == people["asa"]
    assert link(bundle, "self") is not None


# -- token ---------------------------------------------------------------------------------


async def test_token_by_system_and_code_by_code_and_by_system(client: httpx.AsyncClient, people: dict) -> None:
    asa = people["asa"]
    ident = asa["identifier"][0]
    assert await search(client, "Patient", {"identifier": f"{ident['system']}|{ident['value']}"}) == [asa["id"]]
    assert await search(client, "Patient", {"identifier": ident["value"]}) == [asa["id"]]
    assert await search(client, "Patient", {"identifier": f"http://annat.example|{ident['value']}"}) == []
    everyone = {people[k]["id"] for k in ("asa", "tolvan", "nils")}
    assert set(await search(client, "Patient", {"identifier": f"{ident['system']}|"})) == everyone
    assert await search(client, "Practitioner", {"identifier": "urn:oid:1.2.752.29.4.19|SE2321000198-P0KL1"}) == [
        people["karin"]["id"]
    ]


async def test_token_on_code_and_contact_point(client: httpx.AsyncClient, people: dict) -> None:
    assert await search(client, "Patient", {"gender": "female"}) == [people["asa"]["id"]]
    assert await search(client, "Patient", {"phone": "+46701234567"}) == [people["asa"]["id"]]
    assert await search(client, "CarePlan", {"status": "draft"}) == [people["draft"]["id"]]


async def test_token_not_includes_resources_without_the_element(client: httpx.AsyncClient, people: dict) -> None:
    found = set(await search(client, "Patient", {"gender:not": "male"}))
    assert found == {people["asa"]["id"], people["nils"]["id"]}


async def test_missing_modifier(client: httpx.AsyncClient, people: dict) -> None:
    assert await search(client, "Patient", {"gender:missing": "true"}) == [people["nils"]["id"]]
    assert people["nils"]["id"] not in await search(client, "Patient", {"gender:missing": "false"})


# -- string --------------------------------------------------------------------------------


async def test_string_matches_the_start_ignoring_case_and_accents(client: httpx.AsyncClient, people: dict) -> None:
    asa = people["asa"]["id"]
    for value in ("Öberg", "öberg", "OBERG", "Öb", "asa", "ÅSA"):
        assert await search(client, "Patient", {"name": value}) == [asa], value
    assert await search(client, "Patient", {"name": "berg"}) == []
    assert await search(client, "Patient", {"address-city": "goteborg"}) == [asa]


async def test_string_exact_and_contains(client: httpx.AsyncClient, people: dict) -> None:
    asa = people["asa"]["id"]
    assert await search(client, "Patient", {"family:exact": "Öberg"}) == [asa]
    assert await search(client, "Patient", {"family:exact": "öberg"}) == []
    assert await search(client, "Patient", {"family:exact": "Öb"}) == []
    assert await search(client, "Patient", {"family:contains": "BER"}) == [asa]


# -- date ----------------------------------------------------------------------------------


async def test_date_equality_covers_the_whole_precision(client: httpx.AsyncClient, people: dict) -> None:
    asa = people["asa"]["id"]
    for value in ("1950", "1950-03", "1950-03-15"):
        assert await search(client, "Patient", {"birthdate": value}) == [asa], value
    assert await search(client, "Patient", {"birthdate": "1950-03-16"}) == []


async def test_date_prefixes(client: httpx.AsyncClient, people: dict) -> None:
    asa, tolvan, nils = (people[k]["id"] for k in ("asa", "tolvan", "nils"))
    assert await search(client, "Patient", {"birthdate": "lt1950-03-15"}) == [tolvan]
    assert set(await search(client, "Patient", {"birthdate": "ge1950-03-15"})) == {asa, nils}
    assert await search(client, "Patient", {"birthdate": "gt1999-12-30"}) == [nils]
    assert set(await search(client, "Patient", {"birthdate": "ne1950-03-15"})) == {tolvan, nils}
    assert await search(client, "Patient", [("birthdate", "ge1950"), ("birthdate", "lt1951")]) == [asa]


async def test_date_on_a_period(client: httpx.AsyncClient, people: dict) -> None:
    plan = people["plan"]["id"]
    assert await search(client, "CarePlan", {"date": "ge2026-03-01"}) == [plan]
    assert await search(client, "CarePlan", {"date": "gt2026-07-01"}) == []
    assert await search(client, "CarePlan", {"date": "2026"}) == [plan]


async def test_last_updated(client: httpx.AsyncClient, people: dict) -> None:
    stamp = people["nils"]["meta"]["lastUpdated"]
    assert people["nils"]["id"] in await search(client, "Patient", {"_lastUpdated": f"ge{stamp}"})
    assert await search(client, "Patient", {"_lastUpdated": "lt2000-01-01"}) == []


# -- reference -----------------------------------------------------------------------------


async def test_reference_in_every_form(client: httpx.AsyncClient, people: dict) -> None:
    asa, plan = people["asa"]["id"], people["plan"]["id"]
    for value in (f"Patient/{asa}", asa, f"http://fhirbridge.test/fhir/Patient/{asa}"):
        assert await search(client, "CarePlan", {"subject": value}) == [plan], value
    assert await search(client, "CarePlan", {"subject:Patient": asa}) == [plan]
    assert await search(client, "CarePlan", {"subject:Group": asa}) == []
    assert await search(client, "CarePlan", {"patient": f"Patient/{asa}"}) == [plan]
    assert await search(client, "CarePlan", {"performer": f"Practitioner/{people['karin']['id']}"}) == []


async def test_reference_identifier_modifier(client: httpx.AsyncClient, people: dict) -> None:
    ident = people["asa"]["identifier"][0]
    logical = await create(client, builders.care_plan("x", subject={"identifier": ident}))
    found = await search(client, "CarePlan", {"subject:identifier": f"{ident['system']}|{ident['value']}"})
    assert found == [logical["id"]]


# -- uri, _id, combinations ----------------------------------------------------------------


async def test_uri_on_profile(client: httpx.AsyncClient, people: dict) -> None:
    profile = "http://electronichealth.se/fhir/StructureDefinition/SEBasePatient"
    assert await search(client, "Patient", {"_profile": profile}) == [people["asa"]["id"]]
    assert await search(client, "Patient", {"_profile": profile[:-3]}) == []


async def test_id_with_several_values(client: httpx.AsyncClient, people: dict) -> None:
    ids = [people["asa"]["id"], people["nils"]["id"]]
    assert set(await search(client, "Patient", {"_id": ",".join(ids)})) == set(ids)
    assert await search(client, "Patient", {"_id": "finns-inte"}) == []


async def test_commas_or_and_repeats_and(client: httpx.AsyncClient, people: dict) -> None:
    asa, nils = people["asa"]["id"], people["nils"]["id"]
    assert set(await search(client, "Patient", {"family": "Öberg,Nilsson"})) == {asa, nils}
    assert await search(client, "Patient", [("family", "Öberg,Nilsson"), ("given", "Nils")]) == [nils]


async def test_deleted_resources_are_not_found(client: httpx.AsyncClient, people: dict) -> None:
    draft = people["draft"]["id"]
    assert (await client.delete(f"/fhir/CarePlan/{draft}")).status_code == 204
    assert await search(client, "CarePlan", {"status": "draft"}) == []
    assert await search(client, "CarePlan", {"_id": draft}) == []


async def test_post_search_equals_get_search(client: httpx.AsyncClient, people: dict) -> None:
    form = "family=%C3%96berg&gender=female"
    response = await client.post(
        "/fhir/Patient/_search", content=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200
    assert match_ids(response.json()) == await search(client, "Patient", {"family": "Öberg", "gender": "female"})
    both = await client.post(
        "/fhir/Patient/_search?gender=female",
        content="family=Nilsson",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert match_ids(both.json()) == []


# -- paging --------------------------------------------------------------------------------


async def test_paging_follows_next_links_through_every_match_once(client: httpx.AsyncClient) -> None:
    created = [(await create(client, builders.patient()))["id"] for _ in range(7)]
    found = await pages(client, "/fhir/Patient", {"_count": "3"})
    assert [len(match_ids(page)) for page in found] == [3, 3, 1]
    every = [i for page in found for i in match_ids(page)]
    assert sorted(every) == sorted(created)
    assert link(found[-1], "next") is None


async def test_paging_neither_skips_nor_repeats_while_others_write(client: httpx.AsyncClient) -> None:
    created = [await create(client, builders.patient()) for _ in range(6)]
    first = (await client.get("/fhir/Patient", params={"_count": "2"})).json()
    seen = match_ids(first)
    # While the client pages: a seen resource changes, an unseen one is deleted, a new one appears.
    await client.put(f"/fhir/Patient/{seen[0]}", json=dict(created[0], gender="female"))
    assert (await client.delete(f"/fhir/Patient/{created[4]['id']}")).status_code == 204
    newcomer = await create(client, builders.patient())
    rest = await pages(client, link(first, "next") or "")
    following = [i for page in rest for i in match_ids(page)]
    every = seen + following
    assert len(every) == len(set(every)), "a resource came twice"
    # Everything that matched throughout is found once; what appeared or vanished meanwhile may or may not be.
    steady = {c["id"] for c in created} - {created[4]["id"]}
    assert steady <= set(every)
    assert set(every) <= steady | {created[4]["id"], newcomer["id"]}


async def test_total_accurate_counts_every_page(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        await create(client, builders.patient())
    bundle = (await client.get("/fhir/Patient", params={"_count": "2", "_total": "accurate"})).json()
    assert bundle["total"] == 5
    assert len(match_ids(bundle)) == 2


async def test_count_is_a_maximum(client: httpx.AsyncClient, people: dict) -> None:
    assert len(await search(client, "Patient", {"_count": "1"})) == 1
    outcome(await client.get("/fhir/Patient", params={"_count": "ett"}), 400)


# -- unknown and unsupported parameters ----------------------------------------------------


async def test_unknown_parameter_is_ignored_with_a_warning(client: httpx.AsyncClient, people: dict) -> None:
    response = await client.get("/fhir/Patient", params={"favoritfarg": "bla", "family": "Öberg"})
    bundle = response.json()
    assert match_ids(bundle) == [people["asa"]["id"]]
    (warning,) = outcome_entries(bundle)
    assert warning["resourceType"] == "OperationOutcome"
    assert warning["issue"][0]["severity"] == "warning"
    assert "favoritfarg" in str(warning)


async def test_unknown_parameter_is_400_under_strict_handling(client: httpx.AsyncClient, people: dict) -> None:
    response = await client.get("/fhir/Patient", params={"favoritfarg": "bla"}, headers={"Prefer": "handling=strict"})
    outcome(response, 400)
    response = await client.get("/fhir/Patient", params={"gender:okand": "x"}, headers={"Prefer": "handling=strict"})
    outcome(response, 400)


async def test_lenient_handling_is_the_default(client: httpx.AsyncClient, people: dict) -> None:
    response = await client.get("/fhir/Patient", params={"favoritfarg": "bla"}, headers={"Prefer": "handling=lenient"})
    assert response.status_code == 200


RESULT_PARAMETERS = ["_sort=family", "_include=CarePlan:subject", "_revinclude=Goal:subject", "_contained=both"]


async def test_parameters_ignored_when_lenient_are_refused_when_strict(client: httpx.AsyncClient, people: dict) -> None:
    """R4 search.html#errors: handling=strict asks for an error for any unknown or unsupported parameter."""
    ignored = []
    for parameter in RESULT_PARAMETERS:
        lenient = (await client.get(f"/fhir/CarePlan?{parameter}")).json()
        if any(parameter.split("=")[0] in str(warning) for warning in outcome_entries(lenient)):
            ignored.append(parameter)
    accepted = []
    for parameter in ignored:
        strict = await client.get(f"/fhir/CarePlan?{parameter}", headers={"Prefer": "handling=strict"})
        if strict.status_code != 400:
            accepted.append(parameter)
    assert accepted == [], f"ignored, yet accepted under strict handling: {accepted}"


async def test_empty_parameters_are_ignored(client: httpx.AsyncClient, people: dict) -> None:
    assert await search(client, "Patient", [("family", "Öberg"), ("given", "")]) == [people["asa"]["id"]]


async def test_self_link_names_only_the_parameters_used(client: httpx.AsyncClient, people: dict) -> None:
    bundle = (await client.get("/fhir/Patient", params={"family": "Öberg", "favoritfarg": "bla"})).json()
    used = dict(parse_qsl(urlsplit(link(bundle, "self") or "").query))
    assert used.get("family") == "Öberg"
    assert "favoritfarg" not in used


async def test_count_zero_reports_the_total_only(client: httpx.AsyncClient, people: dict) -> None:
    bundle = (await client.get("/fhir/Patient", params={"_count": "0"})).json()
    assert bundle.get("entry", []) == []
    assert bundle["total"] == 3

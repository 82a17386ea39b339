"""search-system, ``GET [base]?_type=…`` (R4 http.html#search, search.html#_type): the common
parameters across the named types, with next links that neither skip nor repeat."""

from __future__ import annotations

import httpx

from tests.support import builders
from tests.support.api import create, expressions, match_ids, outcome, outcome_entries, pages

TAG = {"system": "https://fhirbridge.se/fhir/CodeSystem/test-tag", "code": "granskad"}


async def test_the_named_types_are_searched_by_the_common_parameters_and_paged_end_to_end(
    client: httpx.AsyncClient,
) -> None:
    patient = await create(client, builders.patient())
    tagged = {"meta": {"tag": [TAG]}}
    plans = [await create(client, dict(builders.care_plan(patient["id"]), **tagged)) for _ in range(3)]
    goals = [await create(client, dict(builders.goal(patient["id"]), **tagged)) for _ in range(2)]
    await create(client, builders.care_plan(patient["id"]))  # not tagged
    await create(client, dict(builders.patient(), **tagged))  # tagged, of a type not named
    found = await pages(
        client, "/fhir", {"_type": "CarePlan,Goal", "_tag": f"{TAG['system']}|{TAG['code']}", "_count": "2"}
    )
    assert len(found) == 3
    ids = [i for page in found for i in match_ids(page)]
    assert sorted(ids) == sorted(r["id"] for r in plans + goals) and len(ids) == len(set(ids))
    assert all(page["type"] == "searchset" and "total" not in page for page in found)
    kinds = [e["resource"]["resourceType"] for page in found for e in page["entry"]]
    assert kinds == ["CarePlan"] * 3 + ["Goal"] * 2
    by_id = await client.get("/fhir", params={"_type": "Goal,CarePlan", "_id": goals[0]["id"]})
    assert match_ids(by_id.json()) == [goals[0]["id"]]


async def test_unknown_or_missing_types_are_400_and_other_parameters_are_reported(client: httpx.AsyncClient) -> None:
    assert expressions(outcome(await client.get("/fhir", params={"_type": "CarePlan,Spaceship"}), 400)) == ["_type"]
    outcome(await client.get("/fhir"), 400)
    outcome(await client.get("/fhir", params={"_type": "CarePlan,Goal", "_sort": "_lastUpdated"}), 400)
    sorted_one = await client.get("/fhir", params={"_type": "CarePlan", "_sort": "-_lastUpdated"})
    assert sorted_one.status_code == 200, sorted_one.text
    loose = await client.get("/fhir", params={"_type": "CarePlan", "subject": "Patient/x"})
    assert loose.status_code == 200
    assert [i["expression"] for o in outcome_entries(loose.json()) for i in o["issue"]] == [["subject"]]
    strict = await client.get(
        "/fhir", params={"_type": "CarePlan", "subject": "Patient/x"}, headers={"Prefer": "handling=strict"}
    )
    outcome(strict, 400)
    outcome(await client.get("/fhir", params={"_type": "CarePlan", "_cursor": "t7~k1"}), 400)

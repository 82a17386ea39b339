"""_sort, _count, _total and next links that neither skip nor repeat while others write
(R4 search.html#sort, #count, #total, #paging)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support import builders

FAMILIES = [
    "Östberg",
    "Andersson",
    "Berg",
    "Åkesson",
    "Nilsson",
    "Carlsson",
    "Dahl",
    "Ek",
    "Falk",
    "Grön",
    "Holm",
    "Ivarsson",
]


async def _patients(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    created = []
    for index in range(count):
        body = builders.patient(family=FAMILIES[index % len(FAMILIES)], given=f"P{index:02d}")
        body["birthDate"] = f"19{40 + index:02d}-01-01"
        if index % 5 == 4:
            del body["birthDate"]
        created.append((await client.post("/fhir/Patient", json=body)).json())
    return created


async def _all_pages(client: httpx.AsyncClient, params: dict[str, str], between: Any = None) -> list[str]:
    ids: list[str] = []
    response = await client.get("/fhir/Patient", params=params)
    page = 0
    while True:
        bundle = response.json()
        assert response.status_code == 200, bundle
        ids += [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return ids
        if between is not None:
            await between(page)
        page += 1
        response = await client.get(following[0])


async def test_sort_by_string_and_date_with_missing_last(client: httpx.AsyncClient) -> None:
    await _patients(client, 10)
    by_family = (await client.get("/fhir/Patient", params={"_sort": "family", "_count": "50"})).json()
    families = [e["resource"]["name"][0]["family"] for e in by_family["entry"]]
    # Swedish alphabetical order: Å, Ä and Ö come after Z.
    assert families == ["Andersson", "Berg", "Carlsson", "Dahl", "Ek", "Falk", "Grön", "Nilsson", "Åkesson", "Östberg"]
    newest_first = (await client.get("/fhir/Patient", params={"_sort": "-birthdate", "_count": "50"})).json()
    dates = [e["resource"].get("birthDate") for e in newest_first["entry"]]
    present = [d for d in dates if d]
    assert present == sorted(present, reverse=True)
    assert dates[len(present) :] == [None] * (len(dates) - len(present))


async def test_several_sort_keys(client: httpx.AsyncClient) -> None:
    await _patients(client, 12)
    bundle = (await client.get("/fhir/Patient", params={"_sort": "gender,-_lastUpdated", "_count": "50"})).json()
    updated = [e["resource"]["meta"]["lastUpdated"] for e in bundle["entry"]]
    assert updated == sorted(updated, reverse=True)


async def test_count_total_and_next_links(client: httpx.AsyncClient) -> None:
    created = await _patients(client, 12)
    first = (await client.get("/fhir/Patient", params={"_count": "5", "_total": "accurate"})).json()
    assert first["total"] == 12
    assert len(first["entry"]) == 5
    ids = await _all_pages(client, {"_count": "5"})
    assert sorted(ids) == sorted(p["id"] for p in created)
    sorted_ids = await _all_pages(client, {"_count": "5", "_sort": "family"})
    assert sorted(sorted_ids) == sorted(p["id"] for p in created)


async def test_key_order_paging_is_stable_while_others_write(client: httpx.AsyncClient) -> None:
    created = await _patients(client, 20)
    deleted = {created[3]["id"], created[17]["id"]}
    added: list[str] = []

    async def meddle(page: int) -> None:
        # Another client writes between our pages: updates, deletes and creates.
        await asyncio.gather(
            client.put(f"/fhir/Patient/{created[page]['id']}", json=dict(created[page], gender="female")),
            client.put(f"/fhir/Patient/{created[19 - page]['id']}", json=dict(created[19 - page], gender="other")),
        )
        if page == 0:
            for resource_id in deleted:
                await client.delete(f"/fhir/Patient/{resource_id}")
        added.append((await client.post("/fhir/Patient", json=builders.patient())).json()["id"])

    ids = await _all_pages(client, {"_count": "4"}, meddle)
    assert len(ids) == len(set(ids)), "a resource was repeated"
    survivors = {p["id"] for p in created} - deleted
    assert survivors <= set(ids), "a resource that existed throughout was skipped"


async def test_sorted_paging_reads_a_snapshot_while_others_write(client: httpx.AsyncClient) -> None:
    created = await _patients(client, 15)

    async def touch(page: int) -> None:
        # Updating changes _lastUpdated, the sort key: without a snapshot these would jump pages.
        for patient in created[page * 3 : page * 3 + 6]:
            await client.put(f"/fhir/Patient/{patient['id']}", json=dict(patient, active=page % 2 == 0))

    ids = await _all_pages(client, {"_count": "4", "_sort": "_lastUpdated"}, touch)
    assert sorted(ids) == sorted(p["id"] for p in created)


async def test_a_foreign_cursor_is_refused(client: httpx.AsyncClient) -> None:
    for cursor in ("123", "k-1", "s" + "0" * 32 + ".x", "k99999999999999999999"):
        response = await client.get("/fhir/Patient", params={"_cursor": cursor})
        assert response.status_code == 400, cursor
    expired = await client.get("/fhir/Patient", params={"_cursor": "s" + "0" * 32 + ".5"})
    assert expired.status_code == 410

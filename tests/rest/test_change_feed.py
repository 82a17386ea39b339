"""The change feed: ``_history?_sort=_lastUpdated``, oldest change first, whose ``next`` links
resume exactly after the last change a reader saw, however the writers' commits interleave
(R4 http.html#history, #paging; fhirbridge.storage.feed).

On PostgreSQL a write can take its place in history before another that commits first; on SQLite
one writer at a time commits whole batches (the group commit).  The same tests hold on both.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.identity import SYSTEM
from fhirbridge.repository import FhirRepository
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.unit_of_work import UnitOfWork
from tests.support import builders
from tests.support.api import create, history, link, outcome

FEED = "/fhir/_history"
Change = tuple[str, str, str]  # type, id, version


class Reader:
    """A sync client: follows ``next`` until a page has none, keeps the last link it asked."""

    def __init__(self, client: httpx.AsyncClient, path: str = FEED, count: int = 2) -> None:
        self.client = client
        self.resume: str = f"{path}?_sort=_lastUpdated&_count={count}"
        self.seen: list[Change] = []

    async def catch_up(self) -> list[Change]:
        new: list[Change] = []
        url: str | None = self.resume
        while url is not None:
            response = await self.client.get(url)
            assert response.status_code == 200, response.text
            page = response.json()
            new += [change(entry) for entry in page.get("entry", [])]
            self.resume, url = url, link(page, "next")
        self.seen += new
        return new


def change(entry: dict[str, Any]) -> Change:
    resource_type, resource_id = entry["fullUrl"].split("/fhir/")[1].split("/")
    return resource_type, resource_id, entry["response"]["etag"][3:-1]


async def everything(client: httpx.AsyncClient, path: str = "_history") -> list[Change]:
    """Every version stored, oldest first (R4's newest-first history, reversed)."""
    return [change(entry) for entry in reversed(await history(client, path, _count="1000"))]


def repository_of(app: FastAPI) -> FhirRepository:
    return FhirRepository(app.state.context.repository.database)


class HeldWrite:
    """A write through the write path that has written and waits to commit until released."""

    def __init__(self, app: FastAPI, steps: Callable[[UnitOfWork], Awaitable[None]]) -> None:
        self.written, self.release = asyncio.Event(), asyncio.Event()

        async def work(unit: UnitOfWork) -> None:
            await steps(unit)
            self.written.set()
            await self.release.wait()

        self.task = asyncio.create_task(repository_of(app).write(SYSTEM, None, work))

    async def commit(self) -> None:
        self.release.set()
        await self.task


def creating(resource: dict[str, Any], resource_id: str | None = None) -> Callable[[UnitOfWork], Awaitable[None]]:
    async def steps(unit: UnitOfWork) -> None:
        kind = resource["resourceType"]
        await unit.create(validate_resource(resource, kind, url_id=None, local_base=None), resource_id)

    return steps


async def test_a_write_committed_after_the_reader_passed_its_place_comes_on_the_next_page(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    await create(client, builders.practitioner())
    reader = Reader(client)
    await reader.catch_up()

    a = HeldWrite(app, creating(builders.patient(), "writer-a"))
    await asyncio.wait_for(a.written.wait(), 10)  # A has its place in history, uncommitted
    b = asyncio.create_task(client.post("/fhir/Patient", json=builders.patient()))
    if database_url.startswith("postgresql"):
        assert (await b).status_code == 201  # B commits while A is still open
    else:
        await asyncio.sleep(0.2)  # SQLite: B waits for A, the one writer
    # Neither A (open) nor B: on PostgreSQL B committed after A took its place, and handing B
    # out now would move the reader past A's place; on SQLite B has not committed.
    assert await reader.catch_up() == []

    await a.commit()
    assert (await b).status_code == 201
    after = await reader.catch_up()
    assert ("Patient", "writer-a", "1") in after
    assert reader.seen == await everything(client)  # each change once, none skipped


async def test_a_reader_paging_while_writers_commit_out_of_order_sees_every_change_once(
    client: httpx.AsyncClient,
) -> None:
    patients = [await create(client, builders.patient()) for _ in range(3)]
    reader = Reader(client, count=3)
    done = asyncio.Event()

    async def write(n: int) -> None:
        patient = patients[n % 3]
        if n % 2:
            response = await client.put(f"/fhir/Patient/{patient['id']}", json=dict(patient, gender="other"))
            assert response.status_code == 200, response.text
        else:
            await create(client, builders.practitioner(hsa=f"SE2321000198-P{n:05d}"))

    async def writers() -> None:
        for round_ in range(4):
            await asyncio.gather(*(write(8 * round_ + n) for n in range(8)))
        done.set()

    async def read_while_writing() -> None:
        while not done.is_set():
            await reader.catch_up()
            await asyncio.sleep(0)

    await asyncio.gather(writers(), read_while_writing())
    await reader.catch_up()
    stored = await everything(client)
    assert len(reader.seen) == len(set(reader.seen)), "a change was handed out twice"
    assert sorted(reader.seen) == sorted(stored), "a change was skipped"
    for patient in patients:  # a resource's versions come in version order
        versions = [int(v) for t, i, v in reader.seen if (t, i) == ("Patient", patient["id"])]
        assert versions == sorted(versions)


async def test_a_resources_versions_come_in_order_when_an_earlier_writer_commits_later(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Writer Y begins first (it writes a Practitioner), writer X updates the patient and commits,
    then Y updates the patient too: version 3 must not come before version 2."""
    patient = await create(client, builders.patient())
    url = f"/fhir/Patient/{patient['id']}"

    async def steps(unit: UnitOfWork) -> None:
        await creating(builders.practitioner())(unit)

    y_wrote_first = asyncio.Event()

    async def then_update(unit: UnitOfWork) -> None:
        await steps(unit)
        y_wrote_first.set()
        await x_done.wait()
        changed = validate_resource(dict(patient, gender="other"), "Patient", url_id=patient["id"], local_base=None)
        await unit.update(changed, patient["id"])

    x_done = asyncio.Event()
    y = asyncio.create_task(repository_of(app).write(SYSTEM, None, then_update))
    await asyncio.wait_for(y_wrote_first.wait(), 10)
    x = asyncio.create_task(client.put(url, json=dict(patient, gender="female")))
    await asyncio.sleep(0.2)  # PostgreSQL: X commits; SQLite: X waits for Y, the one writer
    x_done.set()
    await y
    assert (await x).status_code == 200
    seen = await Reader(client).catch_up()
    versions = [v for t, i, v in seen if (t, i) == ("Patient", patient["id"])]
    assert versions == ["1", "2", "3"]


async def test_the_last_next_link_resumes_later_after_the_last_change_seen(client: httpx.AsyncClient) -> None:
    first = await create(client, builders.patient())
    reader = Reader(client, path="/fhir/Patient/_history", count=1)
    assert await reader.catch_up() == [("Patient", first["id"], "1")]
    assert await reader.catch_up() == []  # nothing new: the same link, no entries, no next link
    second = await create(client, builders.patient())
    await client.put(f"/fhir/Patient/{first['id']}", json=dict(first, gender="other"))
    await create(client, builders.practitioner())  # another type: not in this feed
    assert await reader.catch_up() == [("Patient", second["id"], "1"), ("Patient", first["id"], "2")]


async def test_a_page_has_next_while_it_read_something_and_the_pages_are_count_long(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        await create(client, builders.patient())
    page = (await client.get(FEED, params={"_sort": "_lastUpdated", "_count": "2"})).json()
    sizes = []
    while True:
        sizes.append(len(page.get("entry", [])))
        following = link(page, "next")
        if following is None:
            break
        page = (await client.get(following)).json()
    assert sizes == [2, 2, 1, 0]
    assert link(page, "self") is not None


async def test_since_keeps_the_changes_at_or_after_the_instant_in_the_feed(client: httpx.AsyncClient) -> None:
    for _ in range(4):
        await create(client, builders.patient())
    stored = await history(client, "_history")
    since = stored[1]["response"]["lastModified"]
    expected = [change(e) for e in reversed(stored) if e["response"]["lastModified"] >= since]
    reader = Reader(client, count=1)
    reader.resume += f"&_since={since.replace('+', '%2B')}"
    assert await reader.catch_up() == expected


async def test_newest_first_pages_neither_skip_nor_repeat_and_end(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        await create(client, builders.patient())
    entries = await history(client, "Patient/_history", _count="2")
    assert [change(e) for e in entries] == list(reversed(await everything(client, "Patient/_history")))


def _cursor_of(bundle: dict[str, Any]) -> str:
    following = link(bundle, "next")
    assert following is not None
    return httpx.URL(following).params["_cursor"]


def _altered(cursor: str) -> str:
    text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    order, txid, seq, check = text.split(".")
    forged = f"{order}.{txid}.{int(seq) + 1}.{check}"
    return base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")


@pytest.mark.parametrize("sort", ["_lastUpdated", "-_lastUpdated"])
async def test_a_malformed_altered_or_borrowed_cursor_is_400_naming_it(client: httpx.AsyncClient, sort: str) -> None:
    for _ in range(3):
        await create(client, builders.patient())
    page = (await client.get("/fhir/Patient/_history", params={"_sort": sort, "_count": "1"})).json()
    cursor = _cursor_of(page)
    assert (await client.get("/fhir/Patient/_history", params={"_sort": sort, "_cursor": cursor})).status_code == 200
    other_sort = "-_lastUpdated" if sort == "_lastUpdated" else "_lastUpdated"
    refused = [
        ("/fhir/Patient/_history", {"_sort": sort, "_cursor": _altered(cursor)}),
        ("/fhir/Patient/_history", {"_sort": sort, "_cursor": cursor[:-2]}),
        ("/fhir/Patient/_history", {"_sort": sort, "_cursor": "12"}),
        ("/fhir/Patient/_history", {"_sort": sort, "_cursor": "åäö"}),
        ("/fhir/Patient/_history", {"_sort": sort, "_cursor": "x" * 500}),
        ("/fhir/Patient/_history", {"_sort": other_sort, "_cursor": cursor}),
        ("/fhir/_history", {"_sort": sort, "_cursor": cursor}),  # another history's
        ("/fhir/Practitioner/_history", {"_sort": sort, "_cursor": cursor}),
    ]
    for path, params in refused:
        body = outcome(await client.get(path, params=params), 400)
        assert body["issue"][0]["expression"] == ["_cursor"], (path, params)


@pytest.mark.parametrize("sort", ["lastUpdated", "_id", "-_lastUpdated,_id"])
async def test_an_unknown_sort_is_400_naming_it(client: httpx.AsyncClient, sort: str) -> None:
    body = outcome(await client.get(FEED, params={"_sort": sort}), 400)
    assert body["issue"][0]["expression"] == ["_sort"]

"""Several instances on one PostgreSQL (issue 15, item 6): two ``fhirbridge serve`` processes on
one database, in production mode, with the region's integration writing through both at once.

What a client observes: a conditional create spread over both instances makes one resource (the
others are answered with it, R4 http.html#ccreate); updates that all name the version they read
(``If-Match``) leave one winner and 412 for the rest, so no update is lost; one fixed care contact
per patient however the appointments are spread; and the change feed read from one instance
(``_history?_sort=_lastUpdated``) holds every change acknowledged by either, exactly once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.server import ServiceProcess

from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM
from tests.security.tokens import bearer, mint, rsa_key, trusting
from tests.support import builders
from tests.support.api import create
from tests.support.contracts import contract_world, fixed_contact_team

pytestmark = [pytest.mark.postgres_only, pytest.mark.e2e]
WRITERS = 12


@pytest.fixture
def two_instances(database_url: str, tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Two service processes on the one database, and the integration's token header."""
    key = rsa_key()
    environment = {**trusting(tmp_path, key), "FHIRBRIDGE_OUTBOX_WORKER": "off"}
    token = mint(key, sub="integration", scope="system/*.cruds", client_id="region-integration")
    with ExitStack() as stack:
        ports = [
            stack.enter_context(ServiceProcess(database_url, tmp_path / f"server-{n}.log", environment)).port
            for n in (1, 2)
        ]
        yield [f"http://127.0.0.1:{port}" for port in ports], bearer(token)


@pytest.fixture
async def clients(two_instances: tuple[list[str], dict[str, str]]) -> AsyncIterator[list[httpx.AsyncClient]]:
    bases, headers = two_instances
    async with (
        httpx.AsyncClient(base_url=bases[0], headers=headers, timeout=30) as first,
        httpx.AsyncClient(base_url=bases[1], headers=headers, timeout=30) as second,
    ):
        yield [first, second]


async def _feed(client: httpx.AsyncClient, link: str) -> tuple[list[tuple[str, str]], str]:
    """Every change from ``link`` on, as (reference, version), and the link to resume from."""
    seen: list[tuple[str, str]] = []
    while True:
        page = (await client.get(link)).json()
        entries = [entry["resource"] for entry in page.get("entry", []) if "resource" in entry]
        seen += [(f"{r['resourceType']}/{r['id']}", r["meta"]["versionId"]) for r in entries]
        following = next((item["url"] for item in page.get("link", []) if item["relation"] == "next"), None)
        if not entries or following is None:
            return seen, link
        link = following


def _acknowledged(response: httpx.Response) -> tuple[str, str] | None:
    """The change a 200 or 201 to a write acknowledges: (Type/id, version)."""
    if response.status_code not in (200, 201):
        return None
    body: dict[str, Any] = response.json()
    return f"{body['resourceType']}/{body['id']}", body["meta"]["versionId"]


async def test_two_instances_on_one_postgresql_keep_every_rule_and_one_feed(
    clients: list[httpx.AsyncClient],
) -> None:
    first, second = clients
    world = await contract_world(first)
    stored = await create(second, world["contract"])
    _, resume = await _feed(first, "/fhir/_history?_sort=_lastUpdated&_count=100")
    acknowledged: list[tuple[str, str]] = []

    # a conditional create spread over both instances: one Patient
    newcomer = builders.patient(builders.personnummer(), given="Greta")
    number = newcomer["identifier"][0]["value"]
    condition = {"If-None-Exist": f"identifier={PERSONNUMMER_SYSTEM}|{number}"}
    answers = await asyncio.gather(
        *(clients[n % 2].post("/fhir/Patient", json=newcomer, headers=condition) for n in range(WRITERS))
    )
    assert Counter(a.status_code for a in answers) == {201: 1, 200: WRITERS - 1}, [a.text for a in answers]
    found = (await second.get("/fhir/Patient", params={"identifier": f"{PERSONNUMMER_SYSTEM}|{number}"})).json()
    assert len(found.get("entry", [])) == 1
    greta = next(a.json() for a in answers if a.status_code == 201)
    acknowledged += [change for a in answers if a.status_code == 201 and (change := _acknowledged(a))]

    # updates that all read version 1: one wins, the rest are refused, none is lost
    revisions = [dict(stored, description=f"Revision {n}") for n in range(WRITERS)]
    answers = await asyncio.gather(
        *(
            clients[n % 2].put(f"/fhir/CarePlan/{stored['id']}", json=revision, headers={"If-Match": 'W/"1"'})
            for n, revision in enumerate(revisions)
        )
    )
    assert Counter(a.status_code for a in answers) == {200: 1, 412: WRITERS - 1}, [a.text for a in answers]
    winner = next(a.json() for a in answers if a.status_code == 200)
    now = (await second.get(f"/fhir/CarePlan/{stored['id']}")).json()
    assert (now["meta"]["versionId"], now["description"]) == ("2", winner["description"])
    acknowledged += [change for a in answers if (change := _acknowledged(a))]

    # one fixed care contact for the newcomer, however the appointments are spread: two people
    # proposed at once through both instances, and only one of them holds it
    nils = await create(first, builders.practitioner("SE2321000198-P0NB2", "Berg", "Nils"))
    nils_role = await create(first, builders.practitioner_role(nils["id"], world["unit"]["id"]))
    roles = [world["role"]["id"], nils_role["id"]]
    teams = [fixed_contact_team(greta["id"], roles[n % 2]) for n in range(WRITERS)]
    answers = await asyncio.gather(
        *(clients[(n // 2) % 2].post("/fhir/CareTeam", json=team) for n, team in enumerate(teams))
    )
    holders = {roles[n % 2] for n, a in enumerate(answers) if a.status_code == 201}
    assert len(holders) == 1, [a.text for a in answers]
    assert Counter(a.status_code for a in answers).keys() == {201, 409}, [a.text for a in answers]
    acknowledged += [change for a in answers if (change := _acknowledged(a))]

    # the feed read from the first instance: every acknowledged change, each once
    after, _ = await _feed(first, resume)
    assert len(after) == len(set(after)), "no change twice"
    missing = set(acknowledged) - set(after)
    assert not missing, f"acknowledged but not in the feed: {missing}"

"""An integrator's flows through a real client library (issue 15, item 7): fhirpy's async client
against ``fhirbridge serve`` running on loopback in production mode (a bearer token from the
region's identity provider, the access policy, the access log), on SQLite and PostgreSQL.

The region's integration engine creates a whole contract by transaction, finds the patient by
personnummer, updates the contract with the version it read (``If-Match``; a stale version is
refused with 412), and follows the change feed (``_history?_sort=_lastUpdated``, R4
http.html#history) from where it left off, seeing each of its changes exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from bench.bulk import compact_contract, personnummer_of
from bench.seed import load_shared
from bench.server import ServiceProcess
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound

from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM
from tests.security.tokens import mint, rsa_key, trusting

pytestmark = pytest.mark.e2e
CONTRACT = 7_000_001
"""The bench's compact contract number this flow writes (its patient is new to the database)."""


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``fhirbridge serve`` on a free loopback port, trusting a key made here; its FHIR base and
    a token of the region's integration engine (``system/*.cruds``, acting for no unit)."""
    asyncio.run(load_shared(database_url))
    key = rsa_key()
    environment = {
        **trusting(tmp_path, key),
        "FHIRBRIDGE_AUTO_MIGRATE": "false",
    }
    token = mint(key, sub="integration", scope="system/*.cruds", client_id="region-integration")
    with ServiceProcess(database_url, tmp_path / "server.log", environment) as process:
        yield f"http://127.0.0.1:{process.port}/fhir", token


def _contract_bundle() -> tuple[dict[str, Any], str]:
    """A whole contract (patient, care team, two goals, the plan) as a transaction tied by
    urn:uuid, with the patient created only if its personnummer is new; and that personnummer."""
    resources = compact_contract(CONTRACT, date.today())
    urns = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{uuid.uuid4()}" for r in resources}
    text = json.dumps([{key: value for key, value in r.items() if key != "id"} for r in resources])
    for address, urn in urns.items():
        text = text.replace(f'"{address}"', f'"{urn}"')
    entries = []
    for resource, body in zip(resources, json.loads(text), strict=True):
        request = {"method": "POST", "url": resource["resourceType"]}
        if resource["resourceType"] == "Patient":
            request["ifNoneExist"] = f"identifier={PERSONNUMMER_SYSTEM}|{personnummer_of(CONTRACT)}"
        address = urns[f"{resource['resourceType']}/{resource['id']}"]
        entries.append({"fullUrl": address, "resource": body, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, personnummer_of(CONTRACT)


async def _feed(client: AsyncFHIRClient, link: str) -> tuple[list[tuple[str, str]], str]:
    """Every change from ``link`` on, following ``next`` until a page brings nothing; the changes
    as (reference, version) and the link to resume from later."""
    seen: list[tuple[str, str]] = []
    for _ in itertools.count():
        page = await client.execute(link, method="get")  # the server's own link, as fhirpy follows one
        entries = page.get("entry", [])
        versions = [entry["resource"] for entry in entries if "resource" in entry]
        seen += [(f"{v['resourceType']}/{v['id']}", v["meta"]["versionId"]) for v in versions]
        following = next((item["url"] for item in page.get("link", []) if item["relation"] == "next"), None)
        if not entries or following is None:
            return seen, link
        link = following
    raise AssertionError("unreachable")


async def test_a_contract_by_transaction_found_by_personnummer_updated_by_version_and_fed(
    service: tuple[str, str],
) -> None:
    base, token = service
    client = AsyncFHIRClient(base, authorization=f"Bearer {token}")
    before, resume = await _feed(client, f"{base}/_history?_sort=_lastUpdated&_count=50")

    bundle, number = _contract_bundle()
    answer = await client.execute("", method="post", data=bundle)
    assert answer["type"] == "transaction-response"
    assert [entry["response"]["status"][:3] for entry in answer["entry"]] == ["201"] * len(bundle["entry"])

    patients = await client.resources("Patient").search(identifier=f"{PERSONNUMMER_SYSTEM}|{number}").fetch_all()
    assert len(patients) == 1
    plans = await client.resources("CarePlan").search(subject=f"Patient/{patients[0].id}").fetch_all()
    assert len(plans) == 1
    plan = plans[0]
    assert plan["meta"]["versionId"] == "1"

    plan["description"] = "Reviderad tillsammans med patienten"
    by_version = AsyncFHIRClient(base, authorization=f"Bearer {token}", extra_headers={"If-Match": 'W/"1"'})
    await by_version.resource("CarePlan", **plan.serialize()).save()
    stored = await client.get("CarePlan", plan.id)
    assert (stored["meta"]["versionId"], stored["description"]) == ("2", "Reviderad tillsammans med patienten")
    stale = by_version.resource("CarePlan", **{**stored, "description": "Skrivet över en äldre version"})
    with pytest.raises(MultipleResourcesFound):  # fhirpy's name for every 412: here a version that is gone
        await stale.save()
    assert (await client.get("CarePlan", plan.id))["meta"]["versionId"] == "2"

    after, _ = await _feed(client, resume)
    written = {(_relative(e["response"]["location"]), "1") for e in answer["entry"]} | {(f"CarePlan/{plan.id}", "2")}
    assert written <= set(after), "every change of the flow is in the feed"
    assert len(after) == len(set(after)), "no change twice"
    assert not set(after) & set(before), "nothing seen before comes again"
    made_by_the_server = {reference.split("/")[0] for reference, _ in set(after) - written}
    assert made_by_the_server <= {"Provenance", "Communication", "AuditEvent"}, made_by_the_server


def _relative(location: str) -> str:
    """``Type/id`` of a response's ``location`` (``[base]/Type/id/_history/n``)."""
    kind, identifier = location.split("/_history/")[0].rsplit("/", 2)[-2:]
    return f"{kind}/{identifier}"

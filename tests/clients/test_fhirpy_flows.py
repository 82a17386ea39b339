"""An integrator's flows through a real client library (issue 15, item 7): fhirpy's async client
against ``fhirbridge serve`` running on loopback in production mode (a bearer token from the
region's identity provider, the access policy, the access log), on SQLite and PostgreSQL.

The region's integration engine creates a whole contract by transaction, finds the patient by
personnummer, updates the contract with the version it read (``If-Match``; a stale version is
refused with 412), and follows the change feed (``_history?_sort=_lastUpdated``, R4
http.html#history) from where it left off, seeing each of its changes exactly once.
"""

from __future__ import annotations

import itertools

import pytest
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound

from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM
from tests.clients.flows import contract_bundle, relative

pytestmark = pytest.mark.e2e


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

    bundle, number = contract_bundle()
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
    written = {(relative(e["response"]["location"]), "1") for e in answer["entry"]} | {(f"CarePlan/{plan.id}", "2")}
    assert written <= set(after), "every change of the flow is in the feed"
    assert len(after) == len(set(after)), "no change twice"
    assert not set(after) & set(before), "nothing seen before comes again"
    made_by_the_server = {reference.split("/")[0] for reference, _ in set(after) - written}
    assert made_by_the_server <= {"Provenance", "Communication", "AuditEvent"}, made_by_the_server

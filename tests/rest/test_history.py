"""history at instance, type and system level (R4 http.html#history, #paging)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import builders
from tests.support.api import create, history, link, outcome, pages


@pytest.fixture
async def written(client: httpx.AsyncClient) -> dict[str, dict]:
    """A patient updated twice, a practitioner, and a contract created and then deleted."""
    patient = await create(client, builders.patient())
    url = f"/fhir/Patient/{patient['id']}"
    await client.put(url, json=dict(patient, gender="female"))
    await client.put(url, json=dict(patient, gender="other"))
    practitioner = await create(client, builders.practitioner())
    plan = await create(client, builders.care_plan(patient["id"]))
    assert (await client.delete(f"/fhir/CarePlan/{plan['id']}")).status_code == 204
    return {"patient": patient, "practitioner": practitioner, "plan": plan}


def versions(entries: list[dict]) -> list[tuple[str, str]]:
    """(fullUrl, etag) of each entry: one history entry is one version."""
    return [(e["fullUrl"], e["response"]["etag"]) for e in entries]


async def test_instance_history_lists_every_version_newest_first(
    client: httpx.AsyncClient, written: dict[str, dict]
) -> None:
    patient = written["patient"]
    response = await client.get(f"/fhir/Patient/{patient['id']}/_history")
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "history"
    entries = bundle["entry"]
    assert [e["resource"]["meta"]["versionId"] for e in entries] == ["3", "2", "1"]
    assert [e["resource"]["gender"] for e in entries] == ["other", "female", "male"]
    assert [e["request"]["method"] for e in entries] == ["PUT", "PUT", "POST"]
    assert entries[-1]["request"]["url"] == "Patient"
    assert entries[0]["request"]["url"] == f"Patient/{patient['id']}"
    for entry in entries:
        assert entry["fullUrl"] == f"http://fhirbridge.test/fhir/Patient/{patient['id']}"
        assert entry["response"]["etag"] == f'W/"{entry["resource"]["meta"]["versionId"]}"'
        assert entry["response"]["lastModified"] == entry["resource"]["meta"]["lastUpdated"]


async def test_instance_history_of_a_deleted_resource_keeps_the_deletion(
    client: httpx.AsyncClient, written: dict[str, dict]
) -> None:
    entries = await history(client, f"CarePlan/{written['plan']['id']}/_history")
    deletion, creation = entries
    assert deletion["request"] == {"method": "DELETE", "url": f"CarePlan/{written['plan']['id']}"}
    assert "resource" not in deletion
    assert deletion["response"]["etag"] == 'W/"2"'
    assert creation["resource"]["title"] == "Patientkontrakt"


async def test_type_history_holds_only_that_type_including_deletions(
    client: httpx.AsyncClient, written: dict[str, dict]
) -> None:
    entries = await history(client, "CarePlan/_history")
    assert [e["request"]["method"] for e in entries] == ["DELETE", "POST"]
    assert {e["fullUrl"].split("/fhir/")[1].split("/")[0] for e in entries} == {"CarePlan"}


async def test_system_history_holds_every_write_of_every_type(
    client: httpx.AsyncClient, written: dict[str, dict]
) -> None:
    entries = await history(client, "_history")
    types = [e["fullUrl"].split("/fhir/")[1].split("/")[0] for e in entries]
    # Each contract write records its Provenance in the same transaction, right after it.
    assert types == [
        "Provenance",
        "CarePlan",
        "Provenance",
        "CarePlan",
        "Practitioner",
        "Patient",
        "Patient",
        "Patient",
    ]
    for entry in entries:
        if entry["request"]["method"] in ("POST", "PUT"):
            assert "resource" in entry  # R4: a PUT or POST entry SHALL contain the resource


async def test_history_pages_by_count_and_next_links_neither_skip_nor_repeat(
    client: httpx.AsyncClient, written: dict[str, dict]
) -> None:
    everything = versions(await history(client, "_history"))
    found = await pages(client, "/fhir/_history", {"_count": "2"})
    assert [len(page["entry"]) for page in found] == [2, 2, 2, 2]
    assert versions([e for page in found for e in page["entry"]]) == everything
    assert all(page["type"] == "history" for page in found)


async def test_history_paging_is_stable_while_others_write(client: httpx.AsyncClient, written: dict[str, dict]) -> None:
    before = versions(await history(client, "_history"))
    first = (await client.get("/fhir/_history", params={"_count": "3"})).json()
    patient = written["patient"]
    await client.put(f"/fhir/Patient/{patient['id']}", json=dict(patient, gender="unknown"))
    await create(client, builders.practitioner(hsa="SE2321000198-P0KL2"))
    rest = await pages(client, link(first, "next") or "")
    assert versions(first["entry"] + [e for page in rest for e in page["entry"]]) == before


async def test_history_since_keeps_exactly_the_versions_at_or_after_the_instant(
    client: httpx.AsyncClient, written: dict[str, dict]
) -> None:
    everything = await history(client, "_history")
    since = everything[3]["response"]["lastModified"]  # a version in the middle
    expected = [e for e in everything if e["response"]["lastModified"] >= since]
    found = await history(client, "_history", _since=since)
    assert versions(found) == versions(expected)
    assert versions(everything[:4]) == versions(found[:4])


async def test_history_since_in_the_future_is_empty(client: httpx.AsyncClient, written: dict[str, dict]) -> None:
    response = await client.get("/fhir/_history", params={"_since": "2999-01-01T00:00:00+01:00"})
    assert response.status_code == 200
    assert response.json().get("entry", []) == []


@pytest.mark.parametrize(
    "params",
    [{"_since": "igår"}, {"_since": "2026-01-01"}, {"_count": "tio"}, {"_count": "-1"}],
    ids=["since-text", "since-without-time", "count-text", "count-negative"],
)
async def test_malformed_history_parameters_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    outcome(await client.get("/fhir/_history", params=params), 400)


async def test_history_of_an_unknown_resource_is_404(client: httpx.AsyncClient) -> None:
    outcome(await client.get("/fhir/Patient/finns-inte/_history"), 404)


async def test_history_of_an_unknown_type_is_404(client: httpx.AsyncClient) -> None:
    outcome(await client.get("/fhir/Observation/_history"), 404)

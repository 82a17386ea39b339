"""_summary and _elements on read and search (R4 search.html#summary, #elements)."""

from __future__ import annotations

import httpx

from tests.support import builders

SUBSETTED = "SUBSETTED"


async def _contract(client: httpx.AsyncClient) -> tuple[str, str]:
    patient = (await client.post("/fhir/Patient", json=builders.patient())).json()
    plan = builders.care_plan(
        patient["id"],
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Min plan</p></div>'},
        note=[{"text": "Upprättad tillsammans med patienten"}],
        activity=[{"detail": {"status": "in-progress", "description": "Promenera varje dag"}}],
    )
    created = (await client.post("/fhir/CarePlan", json=plan)).json()
    return patient["id"], created["id"]


def _tags(resource: dict) -> list[str]:
    return [t["code"] for t in resource.get("meta", {}).get("tag", [])]


async def test_read_with_summary_true_keeps_summary_elements_only(client: httpx.AsyncClient) -> None:
    _, plan_id = await _contract(client)
    summary = (await client.get(f"/fhir/CarePlan/{plan_id}", params={"_summary": "true"})).json()
    assert {"status", "intent", "subject", "title"} <= summary.keys()
    assert "note" not in summary and "activity" not in summary and "text" not in summary
    assert SUBSETTED in _tags(summary)


async def test_read_with_summary_text_and_data(client: httpx.AsyncClient) -> None:
    _, plan_id = await _contract(client)
    text = (await client.get(f"/fhir/CarePlan/{plan_id}", params={"_summary": "text"})).json()
    assert set(text) == {"resourceType", "id", "meta", "text", "status", "intent", "subject"}
    data = (await client.get(f"/fhir/CarePlan/{plan_id}", params={"_summary": "data"})).json()
    assert "text" not in data and "note" in data


async def test_elements_keeps_the_asked_for_and_mandatory_elements(client: httpx.AsyncClient) -> None:
    _, plan_id = await _contract(client)
    response = await client.get(f"/fhir/CarePlan/{plan_id}", params={"_elements": "title,note"})
    assert set(response.json()) == {"resourceType", "id", "meta", "title", "note", "status", "intent", "subject"}
    assert SUBSETTED in _tags(response.json())


async def test_search_summary_count_returns_only_the_total(client: httpx.AsyncClient) -> None:
    patient_id, _ = await _contract(client)
    bundle = (
        await client.get("/fhir/CarePlan", params={"subject": f"Patient/{patient_id}", "_summary": "count"})
    ).json()
    assert bundle["total"] == 1
    assert "entry" not in bundle


async def test_search_elements_shapes_every_entry(client: httpx.AsyncClient) -> None:
    patient_id, _ = await _contract(client)
    bundle = (
        await client.get("/fhir/CarePlan", params={"subject": f"Patient/{patient_id}", "_elements": "title"})
    ).json()
    resource = bundle["entry"][0]["resource"]
    assert "title" in resource and "note" not in resource


async def test_unknown_summary_mode_is_400(client: httpx.AsyncClient) -> None:
    _, plan_id = await _contract(client)
    response = await client.get(f"/fhir/CarePlan/{plan_id}", params={"_summary": "everything"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_summary"]


async def test_summary_count_on_a_read_is_a_400_naming_it(client: httpx.AsyncClient) -> None:
    """``_summary=count`` is for searches (R4 search.html#summary); the fuzzer found a read with
    it answered 500."""
    patient = (await client.post("/fhir/Patient", json=builders.patient())).json()
    for url in (f"/fhir/Patient/{patient['id']}", f"/fhir/Patient/{patient['id']}/_history/1"):
        answer = await client.get(url, params={"_summary": "count"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["issue"][0]["expression"] == ["_summary"]

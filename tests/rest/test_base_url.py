"""The service base URL (R4 http.html#root): both [base]/[type] and [base]/[type]/ are served."""

from __future__ import annotations

import httpx

from tests.support import builders
from tests.support.api import create, match_ids


async def test_search_with_a_trailing_slash_is_served(client: httpx.AsyncClient) -> None:
    created = await create(client, builders.patient())
    response = await client.get("/fhir/Patient/", params={"_id": created["id"]})
    assert response.status_code == 200
    assert match_ids(response.json()) == [created["id"]]


async def test_conditional_delete_in_the_form_the_spec_shows_is_served(client: httpx.AsyncClient) -> None:
    """R4 http.html#cdelete writes it as DELETE [base]/[type]/?[search parameters]."""
    created = await create(client, builders.practitioner())
    response = await client.delete("/fhir/Practitioner/", params={"identifier": "SE2321000198-P0KL1"})
    assert response.status_code in (200, 204)
    assert (await client.get(f"/fhir/Practitioner/{created['id']}")).status_code == 410


async def test_the_base_without_trailing_slash_serves_search(client: httpx.AsyncClient) -> None:
    assert (await client.get("/fhir/Patient")).status_code == 200

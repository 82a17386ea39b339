"""``Bundle.total`` of a search (R4 search.html#total): given by default, counted when the
matches take more than one page, on every page; ``_total=none`` leaves out the count."""

from __future__ import annotations

import httpx

from tests.support import builders
from tests.support.api import create, link


async def test_a_paged_search_says_its_total_on_every_page_unless_told_not_to(client: httpx.AsyncClient) -> None:
    for _ in range(12):
        await create(client, builders.patient())
    first = (await client.get("/fhir/Patient", params={"_count": "5"})).json()
    assert first["total"] == 12
    following = link(first, "next")
    assert following is not None
    second = (await client.get(following)).json()
    assert second["total"] == 12 and len(second["entry"]) == 5
    skipped = (await client.get("/fhir/Patient", params={"_count": "5", "_total": "none"})).json()
    assert "total" not in skipped and len(skipped["entry"]) == 5
    one_page = (await client.get("/fhir/Patient", params={"_count": "50", "_total": "none"})).json()
    assert one_page["total"] == 12  # read whole, counted for free
    across = (await client.get("/fhir", params={"_type": "Patient", "_count": "5"})).json()
    assert "total" not in across  # the searches across types give none

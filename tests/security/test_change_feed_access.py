"""The change feed (``_history?_sort=_lastUpdated``) as a patient's token reads it: only what the
patient may see, page after page, and a cursor that cannot be bent to read past the policy."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.callers import admin, admin_post
from tests.security.tokens import SigningKey
from tests.security.world import World, patient_token
from tests.support import builders
from tests.support.api import link, outcome


async def _feed(anyone: httpx.AsyncClient, path: str, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    """Every entry of the feed, following ``next`` links until a page has none."""
    url: str | None = f"{path}?_sort=_lastUpdated&_count={count}"
    entries: list[dict[str, Any]] = []
    while url is not None:
        response = await anyone.get(url, headers=headers)
        assert response.status_code == 200, response.text
        entries += response.json().get("entry", [])
        url = link(response.json(), "next")
    return entries


def _versions(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["fullUrl"], e["response"]["etag"]) for e in entries]


async def test_a_patient_pages_the_feed_and_sees_what_their_history_shows_them_once(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey, rsa: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    hidden = {world[name] for name in ("bertil", "bertil-plan", "bertil-goal", "bertil-team", "anna-internal-plan")}
    for path in ("/fhir/_history", "/fhir/CarePlan/_history"):
        newest_first = (await anyone.get(path, params={"_count": "1000"}, headers=anna)).json().get("entry", [])
        fed = await _feed(anyone, path, anna, count=1)  # one a page: pages of hidden changes in between
        assert fed, path
        assert _versions(fed) == list(reversed(_versions(newest_first))), path
        assert not {e["fullUrl"].rsplit("/", 1)[1] for e in fed} & hidden, path
    # Written later, Bertil's new version never reaches Anna's feed; her own does.
    await admin_post(anyone, rsa, builders.patient(family="Senare"))
    bertil = (await anyone.get(f"/fhir/Patient/{world['bertil']}", headers=admin(rsa))).json()
    updated = await anyone.put(
        f"/fhir/Patient/{world['bertil']}", json=dict(bertil, gender="other"), headers=admin(rsa)
    )
    assert updated.status_code == 200, updated.text
    again = await _feed(anyone, "/fhir/Patient/_history", anna, count=5)
    assert world["bertil"] not in {e["fullUrl"].rsplit("/", 1)[1] for e in again}


async def test_a_cursor_made_by_hand_is_400_and_tells_nothing(
    anyone: httpx.AsyncClient, world: World, ec: SigningKey
) -> None:
    anna = patient_token(ec, world, "anna")
    for cursor in ("1", "0", "YS4wLjAuMDAwMDAwMDAwMDAwMDAwMA", "a.0.0.0000000000000000"):
        body = outcome(
            await anyone.get(
                "/fhir/CarePlan/_history", params={"_sort": "_lastUpdated", "_cursor": cursor}, headers=anna
            ),
            400,
        )
        assert body["issue"][0]["expression"] == ["_cursor"]
        assert world["bertil-plan"] not in str(body)

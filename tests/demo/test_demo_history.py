"""The demo contracts come with a history (issue 14 item 3, issue 13 item 6): agreed months ago
by the fixed care contact's unit and revised since by other units, each version dated and with
its own Provenance; loading twice changes nothing."""

from __future__ import annotations

from datetime import date

import httpx
from fastapi import FastAPI

from fhirbridge.demo.generator import demo_items
from fhirbridge.loading import Loader, SourcedResource

TODAY = date(2026, 11, 22)


def _items() -> list[SourcedResource]:
    return list(demo_items(4, today=TODAY))


async def test_a_demo_contract_was_agreed_months_ago_and_revised_by_other_units(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    report = await Loader(app.state.context.repository).load(_items())
    assert report.rejected == []
    history = (await client.get("/fhir/CarePlan/demo-contract-00003/_history")).json()
    versions = sorted(history["entry"], key=lambda e: int(e["resource"]["meta"]["versionId"]))
    assert [e["resource"]["meta"]["versionId"] for e in versions] == ["1", "2", "3"]
    dates = [e["resource"]["meta"]["lastUpdated"][:10] for e in versions]
    assert dates == sorted(dates) and dates[-1] < TODAY.isoformat() and dates[0] < dates[-1]
    provenances = (await client.get("/fhir/Provenance", params={"target": "CarePlan/demo-contract-00003"})).json()
    units = {
        agent["onBehalfOf"]["reference"]
        for entry in provenances["entry"]
        for agent in entry["resource"]["agent"]
        if "onBehalfOf" in agent
    }
    assert len(units) == 3, units  # the fixed care contact's unit and two others
    recorded = sorted(entry["resource"]["recorded"][:10] for entry in provenances["entry"])
    assert recorded == dates


async def test_loading_the_demo_twice_changes_nothing(app: FastAPI) -> None:
    first = await Loader(app.state.context.repository).load(_items())
    second = await Loader(app.state.context.repository).load(_items())
    assert first.written > 0 and first.rejected == []
    assert second.written == 0 and second.rejected == []

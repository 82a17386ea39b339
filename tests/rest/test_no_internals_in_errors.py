"""Errors never show the server's internals: an unexpected failure is a 500 OperationOutcome
with an incident number (a SOAP fault on the SOAP addresses), and a refused parameter is named
without pydantic's own words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.adapters.npo.get_care_plans import PATH as CARE_PLANS_PATH
from fhirbridge.fhir.xml import read_xml
from tests.adapters.test_get_care_plans import request as care_plans_request
from tests.support import builders
from tests.support.api import network_client, outcome

SECRET = "secret-sql-detail SELECT * FROM resources WHERE /srv/fhirbridge/db.py"
LEAKS = (SECRET, "secret-sql", "Traceback", "RuntimeError", ".py", "fhirbridge.")


@pytest.fixture
async def wire(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with network_client(app) as http:
        yield http


@pytest.fixture
def broken_repository(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every repository method fails the way a database driver bug would."""

    async def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(SECRET)

    repository = app.state.context.repository
    for method in ("read", "vread", "search", "history", "write", "referrers"):
        monkeypatch.setattr(repository, method, fail)


def assert_no_leak(response: httpx.Response) -> None:
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} in {response.text[:300]}"


@pytest.mark.usefixtures("broken_repository")
async def test_an_unexpected_failure_is_a_500_outcome_without_internals(wire: httpx.AsyncClient) -> None:
    patient = builders.patient()
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "POST", "url": "Patient"}, "resource": patient}],
    }
    attempts = {
        "read": wire.get("/fhir/Patient/1"),
        "search": wire.get("/fhir/Patient", params={"name": "Tolvansson"}),
        "history": wire.get("/fhir/_history"),
        "create": wire.post("/fhir/Patient", json=patient),
        "update": wire.put("/fhir/Patient/1", json=dict(patient, id="1")),
        "delete": wire.delete("/fhir/Patient/1"),
        "transaction": wire.post("/fhir", json=transaction),
        "$validate of a stored resource": wire.get("/fhir/Patient/1/$validate"),
        "XML error": wire.get("/fhir/Patient/1", headers={"Accept": "application/fhir+xml"}),
    }
    for name, pending in attempts.items():
        response = await pending
        if name == "XML error":  # the error in the format asked for
            assert response.status_code == 500 and response.headers["content-type"].startswith("application/fhir+xml")
            body = read_xml(response.content)
        else:
            body = outcome(response, 500)
        issue = body["issue"][0]
        assert issue["code"] == "exception", name
        assert "incident" in issue["diagnostics"], name
        assert_no_leak(response)


@pytest.mark.usefixtures("broken_repository")
async def test_an_unexpected_failure_in_an_adapter_shows_nothing_either(wire: httpx.AsyncClient) -> None:
    overview = await wire.get("/overview/1")
    assert overview.status_code == 500
    assert_no_leak(overview)
    soap = await wire.post(CARE_PLANS_PATH, content=care_plans_request("191212121212"))
    assert soap.status_code == 500
    assert b"soap:Server" in soap.content
    assert_no_leak(soap)


async def test_a_refused_parameter_is_named_without_pydantic_words(app: FastAPI, wire: httpx.AsyncClient) -> None:
    async def probe(count: int, since: str) -> dict[str, int]:  # FastAPI checks these itself
        return {"count": count}

    app.add_api_route("/probe", probe, methods=["GET"])
    response = await wire.get("/probe", params={"count": "många"})
    issues = outcome(response, 400)["issue"]
    assert [issue["expression"] for issue in issues] == [["count"], ["since"]]
    assert issues[0]["diagnostics"] == "The query parameter count has a value of the wrong form"
    assert issues[1]["diagnostics"] == "The query parameter since is required"
    for internal in ("int_parsing", "pydantic", "många", "loc", "input"):
        assert internal not in response.text

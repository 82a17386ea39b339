"""The integrator's flow of test_fhirpy_flows.py through SMART's Python client, ``fhirclient``
(its R4 models, synchronous, on requests), against ``fhirbridge serve`` in production mode on
SQLite and PostgreSQL (issue 15, item 7).

Every answer is read through fhirclient's R4 (4.0.1) models, which refuse an element, a type or
a cardinality the spec does not allow: the transaction-response, the searches, the resources
read back, the refusal (an OperationOutcome) and every page of the change feed.  fhirclient has
no If-Match of its own; an integrator sets it on the client's requests session around the update,
as here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from fhirclient.client import FHIRClient
from fhirclient.models.bundle import Bundle
from fhirclient.models.careplan import CarePlan
from fhirclient.models.operationoutcome import OperationOutcome
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRServer

from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM
from tests.clients.flows import contract_bundle, relative

pytestmark = pytest.mark.e2e


def _server(base: str, token: str) -> FHIRServer:
    """fhirclient's server for ``base``, sending the integration engine's token (a backend
    service has no SMART launch: its token comes from the region's identity provider)."""
    smart = FHIRClient(settings={"app_id": "region-integration", "api_base": base})
    server: FHIRServer = smart.server
    server.session.headers["Authorization"] = f"Bearer {token}"
    return server


@contextmanager
def _if_match(server: FHIRServer, version: str) -> Iterator[None]:
    """Requests made meanwhile name the version they change (R4 http.html#concurrency)."""
    server.session.headers["If-Match"] = f'W/"{version}"'
    try:
        yield
    finally:
        del server.session.headers["If-Match"]


def _feed(server: FHIRServer, link: str) -> tuple[list[tuple[str, str]], str]:
    """Every change from ``link`` on, each page read as an R4 Bundle, following ``next`` until a
    page brings nothing; the changes as (reference, version) and the link to resume from."""
    seen: list[tuple[str, str]] = []
    for _ in itertools.count():
        page = Bundle.read_from(link, server)
        assert page.type == "history"
        entries = page.entry or []
        versions = [entry.resource for entry in entries if entry.resource is not None]
        seen += [(f"{v.resource_type}/{v.id}", v.meta.versionId) for v in versions]
        following = next((item.url for item in page.link or [] if item.relation == "next"), None)
        if not entries or following is None:
            return seen, link
        link = following
    raise AssertionError("unreachable")


def test_a_contract_by_transaction_found_by_personnummer_updated_by_version_and_fed(
    service: tuple[str, str],
) -> None:
    base, token = service
    server = _server(base, token)
    before, resume = _feed(server, f"{base}/_history?_sort=_lastUpdated&_count=50")

    transaction, number = contract_bundle()
    answer = Bundle(server.post_json("", Bundle(transaction).as_json()).json())
    assert answer.type == "transaction-response"
    assert [entry.response.status[:3] for entry in answer.entry] == ["201"] * len(transaction["entry"])

    patients = list(
        Patient.where(struct={"identifier": f"{PERSONNUMMER_SYSTEM}|{number}"}).perform_resources_iter(server)
    )
    assert [p.identifier[0].value for p in patients if isinstance(p, Patient)] == [number]
    plans = list(CarePlan.where(struct={"subject": f"Patient/{patients[0].id}"}).perform_resources_iter(server))
    assert len(plans) == 1
    plan = plans[0]
    assert isinstance(plan, CarePlan)
    assert plan.meta.versionId == "1"

    plan.description = "Reviderad tillsammans med patienten"
    with _if_match(server, "1"):
        plan.update(server)
    stored = CarePlan.read(plan.id, server)
    assert (stored.meta.versionId, stored.description) == ("2", "Reviderad tillsammans med patienten")
    stored.description = "Skrivet över en äldre version"
    with _if_match(server, "1"), pytest.raises(requests.HTTPError) as refused:
        stored.update(server)
    assert refused.value.response.status_code == 412
    outcome = OperationOutcome(refused.value.response.json())
    assert outcome.issue[0].code == "conflict"
    assert CarePlan.read(plan.id, server).meta.versionId == "2"

    after, _ = _feed(server, resume)
    written = {(relative(e.response.location), "1") for e in answer.entry} | {(f"CarePlan/{plan.id}", "2")}
    assert written <= set(after), "every change of the flow is in the feed"
    assert len(after) == len(set(after)), "no change twice"
    assert not set(after) & set(before), "nothing seen before comes again"
    made_by_the_server = {reference.split("/")[0] for reference, _ in set(after) - written}
    assert made_by_the_server <= {"Provenance", "Communication", "AuditEvent"}, made_by_the_server

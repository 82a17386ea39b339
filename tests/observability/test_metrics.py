"""``/metrics``: the counters and histograms change as requests are served, no label names a
resource, and the metrics are not open to the world in production mode (loopback only, or a
scraper with ``FHIRBRIDGE_METRICS_TOKEN``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from fhirbridge.config import Settings
from fhirbridge.observability.metrics import Metrics, Observed
from fhirbridge.rest.app import create_app
from tests.conftest import BASE
from tests.rest.test_readiness import not_ready_because, production, started
from tests.security.tokens import SigningKey, bearer, mint
from tests.security.world import World, user_token
from tests.support import builders
from tests.support.api import outcome

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
SCRAPER_TOKEN = "scrape-7Qx2-not-an-access-token"


async def scrape(client: httpx.AsyncClient) -> Samples:
    answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, interaction: str, resource_type: str, status: str) -> float:
    return value(samples, "fhirbridge_requests_total", interaction=interaction, type=resource_type, status=status)


def client_at(app: FastAPI, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 40000)), base_url=BASE)


async def test_metrics_change_as_requests_are_served(
    anyone: httpx.AsyncClient, rsa: SigningKey, world: World, database_url: str
) -> None:
    before = await scrape(anyone)
    doctor = user_token(rsa, world, "doctor", "hospital")
    stranger = user_token(rsa, world, "stranger", "outsider")
    assert (await anyone.get(f"/fhir/CarePlan/{world['anna-plan']}", headers=doctor)).status_code == 200
    outcome(await anyone.get("/fhir/CarePlan/no-such-plan", headers=doctor), 404)
    assert (await anyone.post("/fhir/Goal", json=builders.goal(world["anna"]), headers=doctor)).status_code == 201
    outcome(await anyone.post("/fhir/Goal", json=builders.goal(world["anna"]), headers=stranger), 403)
    outcome(await anyone.get("/fhir/CarePlan", params={"subject": f"Patient/{world['anna']}"}), 401)
    assert (await anyone.get("/fhir/metadata")).status_code == 200
    after = await scrape(anyone)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert requests(after, "read", "CarePlan", "2xx") - requests(before, "read", "CarePlan", "2xx") == 1
    assert requests(after, "read", "CarePlan", "4xx") - requests(before, "read", "CarePlan", "4xx") == 1
    assert requests(after, "create", "Goal", "2xx") - requests(before, "create", "Goal", "2xx") == 1
    assert requests(after, "create", "Goal", "4xx") - requests(before, "create", "Goal", "4xx") == 1
    assert requests(after, "search-type", "CarePlan", "4xx") - requests(before, "search-type", "CarePlan", "4xx") == 1
    assert requests(after, "capabilities", "", "2xx") - requests(before, "capabilities", "", "2xx") == 1
    assert requests(after, "metrics", "", "2xx") - requests(before, "metrics", "", "2xx") == 1  # the first scrape
    assert grew("fhirbridge_request_duration_seconds_count", interaction="read") == 2
    assert grew("fhirbridge_request_duration_seconds_bucket", interaction="read", le="+Inf") == 2
    assert grew("fhirbridge_request_duration_seconds_sum", interaction="read") > 0
    assert grew("fhirbridge_refusals_total", status="404", code="not-found") == 1
    assert grew("fhirbridge_refusals_total", status="403", code="forbidden") == 1
    assert grew("fhirbridge_refusals_total", status="401", code="login") == 1
    assert value(after, "fhirbridge_audit_backlog") >= 1  # this test's requests, not yet written
    assert ("fhirbridge_outbox_backlog", ()) in after
    if database_url.startswith("postgresql"):
        assert value(after, "fhirbridge_database_connections", state="open") >= 1

    labels = {label for (_, pairs) in after for _, label in pairs}
    named = {world[name] for name in ("anna", "bertil", "anna-plan", "doctor", "hospital")}
    assert not labels & named, "no label names a resource"


async def test_metrics_are_not_open_to_the_world(secure_app: FastAPI, rsa: SigningKey) -> None:
    async with client_at(secure_app, "127.0.0.1") as local:
        await scrape(local)
    async with client_at(secure_app, "::1") as local:
        await scrape(local)
    service = bearer(mint(rsa, scope="system/*.cruds", client_id="region-integration"))
    async with client_at(secure_app, "10.1.2.3") as remote:
        for headers in ({}, service, {"Authorization": f"Bearer {SCRAPER_TOKEN}"}):
            answer = await remote.get("/metrics", headers=headers)
            issue = outcome(answer, 403)["issue"][0]
            assert issue["code"] == "forbidden"
            assert "fhirbridge_requests_total" not in answer.text


@pytest.fixture
async def scraped_app(secure_settings: Settings) -> AsyncIterator[FastAPI]:
    settings = secure_settings.model_copy(update={"metrics_token": SecretStr(SCRAPER_TOKEN)})
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_a_metrics_token_lets_a_scraper_in_from_anywhere_and_nobody_else(
    scraped_app: FastAPI, rsa: SigningKey
) -> None:
    service = bearer(mint(rsa, scope="system/*.cruds", client_id="region-integration"))
    for host in ("10.1.2.3", "127.0.0.1"):
        async with client_at(scraped_app, host) as client:
            wrong = ({}, service, {"Authorization": f"Bearer {SCRAPER_TOKEN}x"}, {"Authorization": SCRAPER_TOKEN})
            for headers in wrong:
                answer = await client.get("/metrics", headers=headers)
                assert outcome(answer, 401)["issue"][0]["code"] == "login"
                assert answer.headers["www-authenticate"].startswith("Bearer")
            client.headers["Authorization"] = f"Bearer {SCRAPER_TOKEN}"
            assert requests(await scrape(client), "metrics", "", "4xx") >= 4


async def test_metrics_are_open_in_development_mode(client: httpx.AsyncClient) -> None:
    assert (await client.get("/fhir/Patient")).status_code == 200
    assert requests(await scrape(client), "search-type", "Patient", "2xx") == 1


def test_the_latency_histogram_counts_each_observation_in_its_buckets() -> None:
    metrics = Metrics()
    labels = Observed()
    labels.name("read", "CarePlan")
    for seconds in (0.0005, 0.001, 0.002, 20.0):  # 0.001 is in the bucket le="0.001" (le: less or equal)
        metrics.answered(labels, 200, seconds)
    metrics.answered(labels, 503, 0.003)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for sample in family.samples
    }
    bucket = "fhirbridge_request_duration_seconds_bucket"
    assert value(samples, bucket, interaction="read", le="0.001") == 2
    assert value(samples, bucket, interaction="read", le="0.0025") == 3
    assert value(samples, bucket, interaction="read", le="0.005") == 4
    assert value(samples, bucket, interaction="read", le="10.0") == 4
    assert value(samples, bucket, interaction="read", le="+Inf") == 5
    assert value(samples, "fhirbridge_request_duration_seconds_count", interaction="read") == 5
    assert value(samples, "fhirbridge_request_duration_seconds_sum", interaction="read") == pytest.approx(20.0065)
    assert requests(samples, "read", "CarePlan", "2xx") == 4
    assert requests(samples, "read", "CarePlan", "5xx") == 1


async def test_metrics_and_request_ids_are_served_before_the_service_is_ready(tmp_path: Path) -> None:
    app = create_app(production(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}", auto_migrate=False))
    async with started(app) as client:
        refused = await client.get("/fhir/Patient", headers={"X-Request-ID": "while-not-ready"})
        assert "not ready" in not_ready_because(refused)
        assert refused.headers["x-request-id"] == "while-not-ready"
        samples = await scrape(client)
        assert requests(samples, "other", "", "5xx") == 1  # refused before any route named it
        assert ("fhirbridge_audit_backlog", ()) in samples
        async with client_at(app, "10.1.2.3") as remote:
            outcome(await remote.get("/metrics"), 403)  # not ready is not open

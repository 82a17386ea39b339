"""Outside development mode a Subscription's endpoint is https, allow-listed host or not
(docs/security.md, the endpoint rule).  These tests only create Subscriptions: nothing is sent."""

from __future__ import annotations

import httpx
import pytest

from fhirbridge.config import Settings
from tests.security.tokens import SigningKey, bearer, mint
from tests.support import builders
from tests.support.api import expressions, outcome

ENGINE = "10.20.30.40"  # the region's integration engine, inside the care network


@pytest.fixture
def secure_settings(secure_settings: Settings) -> Settings:
    return secure_settings.model_copy(update={"subscription_allowed_hosts": [ENGINE]})


@pytest.mark.parametrize(
    ("endpoint", "status"),
    [
        (f"https://{ENGINE}/notify", 201),
        ("https://journal.region.example/notify", 201),
        (f"http://{ENGINE}/notify", 422),  # allow-listed, but not over plain http
        ("http://journal.region.example/notify", 422),
        ("https://10.20.30.41/notify", 422),
    ],
)
async def test_outside_development_mode_an_endpoint_is_https(
    anyone: httpx.AsyncClient, rsa: SigningKey, endpoint: str, status: int
) -> None:
    body = builders.subscription("Communication?recipient=Practitioner/karin", endpoint)
    response = await anyone.post("/fhir/Subscription", json=body, headers=bearer(mint(rsa, scope="system/*.cruds")))
    if status == 201:
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "active"
    else:
        assert expressions(outcome(response, 422)) == ["Subscription.channel.endpoint"]

"""What the fuzz tests share: a served app on a real SQLite file holding a few resources, the
headers every fuzz request carries, and bounded, reproducible Hypothesis settings.

``FHIRBRIDGE_FUZZ_EXAMPLES`` scales the examples per operation (``make fuzz`` raises it);
the default keeps each fuzz file under a minute so that CI runs them with every change.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from fhirbridge.config import Settings, TrustedIssuer
from fhirbridge.rest.app import create_app
from tests.security.tokens import ISSUER, SigningKey, bearer, ec_key, mint, write_jwks
from tests.support import builders
from tests.support.api import create, network_client

SEEDED_PATIENT = "fuzz-patient"
"""A Patient (version 1) that every fuzz database holds, so instance interactions find one."""


def fuzz_examples(default: int) -> int:
    """Examples per fuzzed operation: ``default``, or ``FHIRBRIDGE_FUZZ_EXAMPLES``."""
    return int(os.environ.get("FHIRBRIDGE_FUZZ_EXAMPLES", default))


def bounded(examples: int) -> settings:
    """Hypothesis settings for a fuzz run that CI can afford and repeat: fixed examples, no
    deadline (a slow database is not a bug here), a derandomized seed and no example database."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


@pytest.fixture(scope="session")
def fuzz_key() -> SigningKey:
    return ec_key("fuzz")


@pytest.fixture
def fuzz_headers(fuzz_key: SigningKey) -> dict[str, str]:
    """Headers sent with every fuzz request: a valid token of a system allowed to do everything
    (for an hour), so that the fuzzer reaches past authentication into every interaction."""
    return bearer(mint(fuzz_key, scope="system/*.cruds", exp=int(time.time()) + 3600))


@pytest.fixture
def fuzz_settings(
    sqlite_template: Path, tmp_path: Path, fuzz_key: SigningKey, fuzz_headers: dict[str, str]
) -> Settings:
    """A migrated SQLite file of its own, with authentication on, unthrottled, holding
    :data:`SEEDED_PATIENT`, its doctor and its care plan."""
    path = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, path)
    settings = Settings(
        database_url=f"sqlite:///{path}",
        auto_migrate=False,
        outbox_worker="off",
        rate_limit_per_second=0,
        auth="jwt",
        auth_issuers=[TrustedIssuer(issuer=ISSUER, jwks=str(write_jwks(tmp_path / "jwks.json", fuzz_key)))],
        auth_audience=["http://fhirbridge.test/fhir", "http://localhost/fhir", "http://testserver/fhir"],
        audit_flush_seconds=3600,
    )
    asyncio.run(_seed(settings, fuzz_headers))
    return settings


async def _seed(settings: Settings, headers: dict[str, str]) -> None:
    application = create_app(settings)
    async with application.router.lifespan_context(application), network_client(application) as http:
        http.headers.update(headers)
        doctor = await create(http, builders.practitioner())
        patient = dict(builders.patient(), generalPractitioner=[{"reference": f"Practitioner/{doctor['id']}"}])
        stored = await http.put(f"/fhir/Patient/{SEEDED_PATIENT}", json=dict(patient, id=SEEDED_PATIENT))
        assert stored.status_code == 201, stored.text
        await create(http, builders.care_plan(SEEDED_PATIENT))


@pytest.fixture
def fuzz_app(fuzz_settings: Settings) -> FastAPI:
    """The application on the fuzz database; whoever calls it first starts its lifespan."""
    return create_app(fuzz_settings)

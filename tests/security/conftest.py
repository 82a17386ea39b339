"""A deployment with authentication on (``FHIRBRIDGE_AUTH=jwt``), on both database kinds,
trusting one issuer whose keys (RSA and EC) are generated for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from tests.conftest import BASE
from tests.security.tokens import SigningKey, ec_key, production_settings, rsa_key, write_jwks
from tests.security.world import REFERENCE_FORMS, World, build_world


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The route suites run in every reference form on SQLite, and in the literal form on
    PostgreSQL too (the property test in test_reference_forms.py covers every form on both)."""
    kept = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("reference_form", "literal") != "literal" and params.get("database_url") == "postgresql":
            continue
        kept.append(item)
    items[:] = kept


@pytest.fixture(params=REFERENCE_FORMS)
def reference_form(request: pytest.FixtureRequest) -> str:
    """How the world's resources name their patient (tests/security/world.py)."""
    form: str = request.param
    return form


@pytest.fixture(scope="session")
def rsa() -> SigningKey:
    return rsa_key()


@pytest.fixture(scope="session")
def ec() -> SigningKey:
    return ec_key()


@pytest.fixture
def jwks_file(tmp_path: Path, rsa: SigningKey, ec: SigningKey) -> Path:
    return write_jwks(tmp_path / "jwks.json", rsa, ec)


@pytest.fixture
def secure_settings(database_url: str, jwks_file: Path) -> Settings:
    return production_settings(database_url, jwks_file)


@pytest.fixture
async def secure_app(secure_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(secure_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def anyone(secure_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials; tests add their own Authorization header."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=secure_app), base_url=BASE) as http:
        yield http


@pytest.fixture
async def world(anyone: httpx.AsyncClient, rsa: SigningKey) -> World:
    """Two patients, their relatives, care teams and plans, the units and their people (world.py)."""
    return await build_world(anyone, rsa)

"""Production mode in tests, as a pytest plugin (registered in tests/conftest.py): a deployment
with authentication on (``FHIRBRIDGE_AUTH=jwt``), on both database kinds, trusting one issuer
whose keys (RSA and EC) are generated for the session, a client without credentials, and the
world of two patients and their care (tests/security/world.py).

A test module or folder changes the deployment by overriding ``secure_settings`` (an endpoint
allow-list, a CA file, an export folder) and keeps the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from tests.security.tokens import SigningKey, ec_key, production_settings, rsa_key, write_jwks
from tests.security.world import World, build_world
from tests.support.api import BASE


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
    """The service in production mode, its lifespan started."""
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

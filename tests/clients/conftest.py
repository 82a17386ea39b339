"""What every real-client flow starts from: ``fhirbridge serve`` in production mode on each
database (issue 15, item 7)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.seed import load_shared
from bench.server import ServiceProcess

from tests.security.tokens import mint, rsa_key, trusting


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``fhirbridge serve`` on a free loopback port, trusting a key made here; its FHIR base and
    a token of the region's integration engine (``system/*.cruds``, acting for no unit)."""
    asyncio.run(load_shared(database_url))
    key = rsa_key()
    environment = {
        **trusting(tmp_path, key),
        "FHIRBRIDGE_AUTO_MIGRATE": "false",
    }
    token = mint(key, sub="integration", scope="system/*.cruds", client_id="region-integration")
    with ServiceProcess(database_url, tmp_path / "server.log", environment) as process:
        yield f"http://127.0.0.1:{process.port}/fhir", token

"""The demo data, loaded as ``fhirbridge demo`` loads it, for the overview's tests."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from fhirbridge.demo.generator import contract_history, demo_resources
from fhirbridge.loading import Loader, SourcedResource


@pytest.fixture
async def demo(app: FastAPI) -> None:
    """Four demo patients, each contract with its history of revisions by several units."""
    items = (
        SourcedResource(r["id"], r, contract_history(r) if r["id"].startswith("demo-contract-") else ())
        for r in demo_resources(4)
    )
    report = await Loader(app.state.context.repository).load(items)
    assert not report.rejected

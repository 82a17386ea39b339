"""The demo data, loaded as ``fhirbridge demo`` loads it, for the overview's tests."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from fhirbridge.demo.generator import demo_items
from fhirbridge.loading import Loader


@pytest.fixture
async def demo(app: FastAPI) -> None:
    """Four demo patients, each contract with its history of revisions by several units."""
    items = demo_items(4)
    report = await Loader(app.state.context.repository).load(items)
    assert not report.rejected

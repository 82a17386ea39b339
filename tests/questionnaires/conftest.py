"""A unit, Karin Lind's role there and a patient: who answers and whom the answers are about."""

from __future__ import annotations

import httpx
import pytest

from tests.support import builders
from tests.support.api import create


@pytest.fixture
async def people(client: httpx.AsyncClient) -> dict[str, str]:
    unit = await create(client, builders.organization())
    karin = await create(client, builders.practitioner())
    role = await create(client, builders.practitioner_role(karin["id"], unit["id"]))
    patient = await create(client, builders.patient())
    return {"unit": unit["id"], "role": f"PractitionerRole/{role['id']}", "patient": patient["id"]}

"""What the notification tests share: a rest-hook receiver on 127.0.0.1 (receiver.py), and the
service allowed to deliver to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from fhirbridge.config import Settings
from fhirbridge.rest.app import create_app
from tests.notifications.receiver import RecordingReceiver, allowed_to_deliver, listening


@pytest.fixture
async def receiver() -> AsyncIterator[RecordingReceiver]:
    async with listening() as receiving:
        yield receiving


@pytest.fixture
async def service(settings: Settings, receiver: RecordingReceiver) -> AsyncIterator[FastAPI]:
    """The service, its lifespan started, allowed to deliver to the receiver on loopback."""
    application = create_app(allowed_to_deliver(settings, receiver))
    async with application.router.lifespan_context(application):
        yield application

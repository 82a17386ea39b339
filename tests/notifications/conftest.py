"""What the notification tests share: a rest-hook receiver on 127.0.0.1 (receiver.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.notifications.receiver import RecordingReceiver, listening


@pytest.fixture
async def receiver() -> AsyncIterator[RecordingReceiver]:
    async with listening() as receiving:
        yield receiving

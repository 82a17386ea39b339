"""A write of another instance (or the region's directory sync) landing between a write's
read-ahead (``AccessPolicy.prepare``) and its transaction: the window the write's checks must
judge afresh."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest

from fhirbridge.access.policy import AccessPolicy
from fhirbridge.identity import Identity

Write = Callable[[], Awaitable[httpx.Response]]


def writes_after_the_read_ahead(monkeypatch: pytest.MonkeyPatch) -> list[Write]:
    """A list whose writes are made, one per write request, right after that request's
    read-ahead and before its transaction; each must succeed (200 or 201)."""
    read_ahead = AccessPolicy.prepare
    between: list[Write] = []

    async def prepare_then_write(
        policy: AccessPolicy, identity: Identity, about: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        await read_ahead(policy, identity, about)
        if between:
            assert (await between.pop()()).status_code in (200, 201)

    monkeypatch.setattr(AccessPolicy, "prepare", prepare_then_write)
    return between

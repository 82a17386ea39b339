"""What storage hands back: stored versions as canonical JSON bytes with their bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass

MAX_VERSION = 2**31 - 1
"""Versions are 32-bit in the schema; a larger number cannot name a stored version."""


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a resource; ``content`` is None for a deletion."""

    resource_type: str
    resource_id: str
    version: int
    last_updated: int
    deleted: bool
    content: bytes | None
    pk: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One row of history (R4 http.html#history), newest first in every listing."""

    seq: int
    resource_type: str
    resource_id: str
    version: int
    last_updated: int
    method: str
    content: bytes | None

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
    txid: int = 0

    @property
    def position(self) -> tuple[int, int]:
        """Where the version stands in the change feed (:mod:`fhirbridge.storage.feed`)."""
        return (self.txid, self.seq)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """A page of history as a caller may see it: the versions shown, the position of the last
    version read (shown or not: where the next page goes on from), and whether the reading
    reached the end of what there is to read now."""

    entries: list[HistoryEntry]
    last_read: tuple[int, int] | None
    exhausted: bool

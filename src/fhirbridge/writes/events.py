"""Write events: what each committed change was, for listeners in the same transaction.

Provenance, the outbox of notifications, change feeds and subscriptions hang off these
(issues 4 and 6): a listener runs inside the write transaction, so whatever it records
commits or rolls back together with the change itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from fhirbridge.identity import Identity
from fhirbridge.storage.database import Connection
from fhirbridge.storage.records import StoredResource

WriteAction = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class WriteEvent:
    """One change: the new version (``record``) and the version it replaced, if any."""

    action: WriteAction
    record: StoredResource
    previous: StoredResource | None
    identity: Identity


class WriteListener(Protocol):
    async def __call__(self, conn: Connection, events: Sequence[WriteEvent]) -> None:
        """Called once per transaction, before commit, with every change it made."""

"""Write events: what each committed change was, for listeners in the same transaction.

Provenance, the outbox of notifications, change feeds and subscriptions hang off these
(issues 4 and 6): a listener runs inside the write transaction, so whatever it records
commits or rolls back together with the change itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from fhirbridge.identity import Identity
from fhirbridge.storage.records import StoredResource

if TYPE_CHECKING:
    from fhirbridge.validation.pipeline import ValidatedResource
    from fhirbridge.writes.unit_of_work import UnitOfWork

WriteAction = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class WriteEvent:
    """One change: the new version (``record``) and the version it replaced, if any.

    ``resource`` is the new version as JSON (None for a deletion), as the unit of work wrote it,
    so that listeners need not parse ``record.content`` again."""

    action: WriteAction
    record: StoredResource
    previous: StoredResource | None
    identity: Identity
    resource: dict[str, Any] | None = None
    by_server: bool = False
    """Written by the server's own rules before commit (a Provenance, a signal), not by the caller."""


class WriteListener(Protocol):
    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        """Called once per transaction, before commit, with every change it made so far.

        A listener may write through ``unit`` (a Provenance, an outbox row); the changes it
        makes are not shown to the listeners again."""


class WriteEnricher(Protocol):
    async def __call__(self, unit: UnitOfWork, validated: ValidatedResource) -> ValidatedResource:
        """What the server adds to a validated resource before it is stored (a contract's
        contributors, a patient's message addressed to the fixed care contact); returns it
        unchanged when there is nothing to add.  It may read through ``unit``, never write."""

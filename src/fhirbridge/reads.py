"""What reading on behalf of someone needs: the questions the access layer answers.

The care network, the survivors of merged Patients and the access policy itself read through
this interface, whoever the caller: :class:`fhirbridge.access.guarded.GuardedRepository`
answers it, judging each question by the policy (a system caller is let through).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fhirbridge.identity import Identity
    from fhirbridge.repository import SearchPage
    from fhirbridge.search.query import SearchQuery
    from fhirbridge.storage.database import Database
    from fhirbridge.storage.records import StoredResource


class Reads(Protocol):
    """Reads and searches asked by an identity."""

    @property
    def database(self) -> Database: ...

    async def read(self, identity: Identity, resource_type: str, resource_id: str) -> StoredResource | None: ...

    async def vread(
        self, identity: Identity, resource_type: str, resource_id: str, version: int
    ) -> StoredResource | None: ...

    async def search(
        self, identity: Identity, query: SearchQuery, local_base: str | None, *, heavy: bool = True
    ) -> SearchPage: ...

"""Access epochs (the ``access_epochs`` table): a counter per patient and one for the directory,
raised in a write's own transaction, read before the access policy trusts what it kept."""

from __future__ import annotations

from collections.abc import Iterable

from fhirbridge.storage.database import Connection

DIRECTORY = "directory"
"""The scope of the directory (Organization, PractitionerRole, Practitioner): who works where."""


def patient_scope(patient_id: str) -> str:
    return f"Patient/{patient_id}"


async def raise_epochs(conn: Connection, scopes: Iterable[str]) -> None:
    """Raise each scope's counter by one (in sorted order, so that two writers cannot deadlock)."""
    for scope in sorted(set(scopes)):
        await conn.execute(
            "INSERT INTO access_epochs (scope, epoch) VALUES ($1, 1) "
            "ON CONFLICT (scope) DO UPDATE SET epoch = access_epochs.epoch + 1",
            scope,
        )


async def read_epochs(conn: Connection, scopes: list[str]) -> tuple[int, ...]:
    """The counters of ``scopes``, in their order (0 for a scope never raised)."""
    rows = await conn.fetch(
        f"SELECT scope, epoch FROM access_epochs WHERE scope {conn.dialect.in_list('$1')}", list(scopes)
    )
    found = {str(row[0]): int(row[1]) for row in rows}
    return tuple(found.get(scope, 0) for scope in scopes)

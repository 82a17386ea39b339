"""The ``patient_identities`` table: which Patient holds each personnummer, samordningsnummer
and reserve number (:mod:`fhirbridge.patients.identity` says which numbers a Patient holds).

The unique key over (system, value) is what enforces one Patient per person, on both engines
and under any number of concurrent writers: a claim inserts with ``ON CONFLICT DO NOTHING``,
which on PostgreSQL waits for a concurrent claim of the same number to commit or roll back,
and then reports who holds it.  The statements are the same on both engines.
"""

from __future__ import annotations

from collections.abc import Iterable

from fhirbridge.storage.database import Connection, WriteRace

SHARED_CANDIDATES = (
    "SELECT r.res_id, r.content FROM resources r "
    "WHERE r.res_type = 'Patient' AND NOT r.deleted AND r.pk IN ("
    "SELECT t.res_pk FROM idx_token t JOIN ("
    "SELECT system, code FROM idx_token WHERE res_type = 'Patient' AND param = 'identifier' "
    "GROUP BY system, code HAVING COUNT(DISTINCT res_pk) > 1) s ON t.system = s.system AND t.code = s.code "
    "WHERE t.res_type = 'Patient' AND t.param = 'identifier') ORDER BY r.res_id"
)
"""Live Patients that share some identifier with another, by the search index: a superset of
those sharing a number (inactive ones and other systems included), for the caller to judge.
Plain SQL without parameters, so that the migration and ``fhirbridge db check`` run the same."""
LINKED = (
    "SELECT DISTINCT r.res_id, r.content FROM idx_reference i JOIN resources r ON r.pk = i.res_pk "
    "WHERE i.res_type = 'Patient' AND i.param = 'link' AND NOT r.deleted ORDER BY r.res_id"
)
"""Live Patients with a link to another Patient (replaced ones among them)."""
_CLAIM = (
    "INSERT INTO patient_identities (system, value, patient_id) VALUES ($1, $2, $3) "
    "ON CONFLICT (system, value) DO NOTHING RETURNING patient_id"
)
_HOLDER = "SELECT patient_id FROM patient_identities WHERE system = $1 AND value = $2"


async def release(conn: Connection, patient_ids: Iterable[str]) -> None:
    """Forget every number the Patients held (they are rewritten, deleted or no longer a person)."""
    ids = sorted(set(patient_ids))
    if ids:
        await conn.execute(f"DELETE FROM patient_identities WHERE patient_id {conn.dialect.in_list('$1')}", ids)


async def claim(conn: Connection, system: str, value: str, patient_id: str) -> str:
    """Record that ``patient_id`` holds the number; returns who holds it now (``patient_id``
    unless another Patient already does)."""
    if await conn.fetchval(_CLAIM, system, value, patient_id) is not None:
        return patient_id
    holder = await conn.fetchval(_HOLDER, system, value)
    if holder is None:  # the holder let go between the two statements: decide afresh
        raise WriteRace(f"the holder of {system}|{value} changed while it was claimed")
    return str(holder)


async def reassign(conn: Connection, system: str, value: str, patient_id: str) -> None:
    """Give the number to ``patient_id`` (its recorded holder no longer holds it)."""
    await conn.execute(
        "UPDATE patient_identities SET patient_id = $3 WHERE system = $1 AND value = $2", system, value, patient_id
    )


async def contents(conn: Connection, sql: str) -> list[tuple[str, bytes]]:
    """(id, content) of the Patients one of the queries above finds."""
    return [(str(row[0]), bytes(row[1])) for row in await conn.fetch(sql) if row[1] is not None]


async def holder(conn: Connection, system: str, value: str) -> str | None:
    """The Patient that holds the number, if any."""
    found = await conn.fetchval(_HOLDER, system, value)
    return None if found is None else str(found)


async def patient_contents(conn: Connection, patient_ids: Iterable[str], *, lock: str = "") -> dict[str, bytes]:
    """The current content of the live Patients among ``patient_ids``; ``lock`` as in
    :func:`fhirbridge.storage.store.read_current`."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT res_id, content FROM resources WHERE res_type = 'Patient' AND NOT deleted "
        f"AND res_id {conn.dialect.in_list('$1')}" + lock,
        ids,
    )
    return {str(row[0]): bytes(row[1]) for row in rows if row[1] is not None}

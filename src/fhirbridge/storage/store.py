"""FHIR-shaped reads: current versions, versions, and who refers to a resource.

Every function takes a :class:`~fhirbridge.storage.database.Connection`, so the write path
can run them inside its transaction; the statements are the same on both engines.  Writing
versions is in :mod:`fhirbridge.storage.versions`, history in :mod:`fhirbridge.storage.feed`.
"""

from __future__ import annotations

from collections.abc import Iterable

from fhirbridge.storage.database import Connection
from fhirbridge.storage.records import StoredResource

_CURRENT = "SELECT pk, version, last_updated, deleted, content FROM resources WHERE res_type = $1 AND res_id = $2"


async def read_current(
    conn: Connection, resource_type: str, resource_id: str, *, lock: str = ""
) -> StoredResource | None:
    """The current version (deleted or not); ``lock`` (a :class:`Dialect` lock clause, such as
    ``conn.dialect.lock_for_update``) holds the row until the transaction ends."""
    sql = _CURRENT + lock
    row = await conn.fetchrow(sql, resource_type, resource_id)
    if row is None:
        return None
    return StoredResource(resource_type, resource_id, row[1], row[2], bool(row[3]), row[4], pk=row[0])


MOST_PATIENT_SCOPES = 8
"""Patients whose epochs are read with a resource at most (a resource names one or two)."""

_CURRENT_WITH_EPOCHS = (
    "SELECT 'resource', pk, version, last_updated, deleted, content FROM resources WHERE res_type = $1 AND res_id = $2 "
    "UNION ALL "
    "SELECT s.scope, COALESCE(e.epoch, 0), NULL, NULL, NULL, NULL FROM ("
    "SELECT CAST($3 AS TEXT) AS scope "
    "UNION SELECT 'Patient/' || CAST($2 AS TEXT) WHERE CAST($1 AS TEXT) = 'Patient' "
    "UNION SELECT scope FROM (SELECT DISTINCT 'Patient/' || i.target_id AS scope FROM idx_reference i "
    "JOIN resources r ON r.pk = i.res_pk WHERE r.res_type = $1 AND r.res_id = $2 AND i.target_type = 'Patient' "
    f"LIMIT {MOST_PATIENT_SCOPES}) AS named"
    ") AS s LEFT JOIN access_epochs e ON e.scope = s.scope"
)


async def read_current_with_epochs(
    conn: Connection, resource_type: str, resource_id: str, directory_scope: str
) -> tuple[StoredResource | None, dict[str, int]]:
    """The current version (as :func:`read_current`) and, read in the same statement, the access
    epochs (:mod:`fhirbridge.storage.epochs`) of ``directory_scope`` and of the patients the
    resource names through its reference index rows (the Patient itself, for a Patient): what
    the access policy checks before it trusts what it kept, without a second round trip."""
    record: StoredResource | None = None
    epochs: dict[str, int] = {}
    for row in await conn.fetch(_CURRENT_WITH_EPOCHS, resource_type, resource_id, directory_scope):
        if row[0] == "resource" and row[2] is not None:
            record = StoredResource(resource_type, resource_id, row[2], row[3], bool(row[4]), row[5], pk=row[1])
        else:
            epochs[str(row[0])] = int(row[1])
    return record, epochs


async def read_version(conn: Connection, resource_type: str, resource_id: str, version: int) -> StoredResource | None:
    row = await conn.fetchrow(
        "SELECT version, last_updated, method, content FROM resource_versions "
        "WHERE res_type = $1 AND res_id = $2 AND version = $3",
        resource_type,
        resource_id,
        version,
    )
    if row is None:
        return None
    return StoredResource(resource_type, resource_id, row[0], row[1], row[2] == "DELETE", row[3])


async def read_each(conn: Connection, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StoredResource]:
    """:func:`read_current` of several resources, by (type, id), in one statement (a history
    page's Provenance targets); one not stored is absent."""
    parts, args = [], []
    for resource_type, ids in sorted(_by_type(wanted).items()):
        args += [resource_type, ids]
        parts.append(
            "SELECT res_type, res_id, pk, version, last_updated, deleted, content FROM resources "
            f"WHERE res_type = ${len(args) - 1} AND res_id {conn.dialect.in_list(f'${len(args)}')}"
        )
    if not parts:
        return {}
    rows = await conn.fetch(" UNION ALL ".join(parts), *args)
    return {
        (row[0], row[1]): StoredResource(row[0], row[1], row[3], row[4], bool(row[5]), row[6], pk=row[2])
        for row in rows
    }


async def read_versions(
    conn: Connection, wanted: Iterable[tuple[str, str, int]]
) -> dict[tuple[str, str, int], StoredResource]:
    """:func:`read_version` of several versions, by (type, id, version), in one statement; one
    not stored is absent."""
    wanted = set(wanted)
    versions: dict[str, set[int]] = {}
    for resource_type, _, version in wanted:
        versions.setdefault(resource_type, set()).add(version)
    parts, args = [], []
    for resource_type, ids in sorted(_by_type((t, i) for t, i, _ in wanted).items()):
        args += [resource_type, ids, sorted(versions[resource_type])]
        parts.append(
            "SELECT res_type, res_id, version, last_updated, method, content FROM resource_versions "
            f"WHERE res_type = ${len(args) - 2} AND res_id {conn.dialect.in_list(f'${len(args) - 1}')} "
            f"AND version {conn.dialect.in_list(f'${len(args)}')}"
        )
    if not parts:
        return {}
    rows = await conn.fetch(" UNION ALL ".join(parts), *args)
    # the statement asks for every version named of every id named: only the pairs wanted are kept
    return {
        (row[0], row[1], row[2]): StoredResource(row[0], row[1], row[2], row[3], row[4] == "DELETE", row[5])
        for row in rows
        if (row[0], row[1], row[2]) in wanted
    }


def _by_type(wanted: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    ids: dict[str, set[str]] = {}
    for resource_type, resource_id in wanted:
        ids.setdefault(resource_type, set()).add(resource_id)
    return {resource_type: sorted(found) for resource_type, found in ids.items()}


async def referrers(
    conn: Connection, resource_type: str, resource_id: str, *, limit: int = 10
) -> list[tuple[str, str, str]]:
    """Live resources that refer to this one: (type, id, element path).  A Provenance is a
    record of the past, not a dependency: its references do not count (and versioned
    references are not links at all, see :mod:`fhirbridge.writes.unit_of_work`)."""
    rows = await conn.fetch(
        "SELECT r.res_type, r.res_id, l.path FROM resource_links l JOIN resources r ON r.pk = l.res_pk "
        "WHERE l.target_type = $1 AND l.target_id = $2 AND NOT r.deleted "
        "AND NOT (r.res_type = $1 AND r.res_id = $2) AND r.res_type <> 'Provenance' ORDER BY r.pk LIMIT $3",
        resource_type,
        resource_id,
        limit,
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def live_referrers_by_param(
    conn: Connection,
    source_type: str,
    param: str,
    target_type: str,
    target_id: str,
    *,
    limit: int | None = None,
) -> list[StoredResource]:
    """The current versions of live ``source_type`` resources whose reference search parameter
    ``param`` points at ``target_type/target_id`` in any local form (plain, absolute, versioned),
    oldest first (the first ``limit``): ``CareTeam`` by ``subject`` = a patient."""
    rows = await conn.fetch(
        "SELECT DISTINCT r.pk, r.res_id, r.version, r.last_updated, r.content FROM idx_reference i "
        "JOIN resources r ON r.pk = i.res_pk "
        "WHERE i.res_type = $1 AND i.param = $2 AND i.target_id = $3 AND i.target_type = $4 AND NOT r.deleted "
        "ORDER BY r.pk" + ("" if limit is None else " LIMIT $5"),
        source_type,
        param,
        target_id,
        target_type,
        *(() if limit is None else (limit,)),
    )
    return [StoredResource(source_type, row[1], row[2], row[3], False, row[4], pk=row[0]) for row in rows]


async def live_referrers_of_each(
    conn: Connection, source_type: str, param: str, target_type: str, target_ids: list[str], *, limit: int
) -> dict[str, list[StoredResource]]:
    """:func:`live_referrers_by_param` of several targets in one statement: for each target id,
    the first ``limit`` live referrers, oldest first (a target none refers to is absent)."""
    rows = await conn.fetch(
        "SELECT DISTINCT i.target_id, r.pk, r.res_id, r.version, r.last_updated, r.content FROM idx_reference i "
        "JOIN resources r ON r.pk = i.res_pk "
        "WHERE i.res_type = $1 AND i.param = $2 AND i.target_type = $3 "
        f"AND i.target_id {conn.dialect.in_list('$4')} AND NOT r.deleted ORDER BY r.pk",
        source_type,
        param,
        target_type,
        list(target_ids),
    )
    found: dict[str, list[StoredResource]] = {}
    for target_id, pk, res_id, version, last_updated, content in rows:
        referrers = found.setdefault(target_id, [])
        if len(referrers) < limit:
            referrers.append(StoredResource(source_type, res_id, version, last_updated, False, content, pk=pk))
    return found


async def carrying_identifier(
    conn: Connection, resource_type: str, system: str | None, value: str, *, limit: int
) -> list[StoredResource]:
    """Live resources of a type whose ``identifier`` index row holds ``value`` (in ``system``,
    when given), oldest first.  The index keeps a prefix of long values (callers pass the
    indexed form and compare the content)."""
    args: list[object] = [resource_type, value]
    system_clause = ""
    if system is not None:
        args.append(system)
        system_clause = f" AND t.system = ${len(args)}"
    args.append(limit)
    rows = await conn.fetch(
        "SELECT DISTINCT r.pk, r.res_id, r.version, r.last_updated, r.content FROM idx_token t "
        "JOIN resources r ON r.pk = t.res_pk "
        f"WHERE t.res_type = $1 AND t.param = 'identifier' AND t.code = $2{system_clause} AND NOT r.deleted "
        f"ORDER BY r.pk LIMIT ${len(args)}",
        *args,
    )
    return [StoredResource(resource_type, row[1], row[2], row[3], False, row[4], pk=row[0]) for row in rows]


async def live_after(conn: Connection, after_pk: int, limit: int) -> list[StoredResource]:
    """Live resources in key order after ``after_pk``: a walk over everything stored, a page
    at a time."""
    rows = await conn.fetch(
        "SELECT pk, res_type, res_id, version, last_updated, content FROM resources "
        "WHERE pk > $1 AND NOT deleted ORDER BY pk LIMIT $2",
        after_pk,
        limit,
    )
    return [StoredResource(row[1], row[2], row[3], row[4], False, row[5], pk=row[0]) for row in rows]


async def count_live(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT COUNT(*) FROM resources WHERE NOT deleted"))

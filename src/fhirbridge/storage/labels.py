"""The labels in use: the distinct profiles, tags and security labels of the live resources of
some types, read from the search index (``_profile``, ``_tag``, ``_security``, R4
resource.html#search) rather than from the resources themselves.

The index keeps a prefix of long values (:data:`~fhirbridge.search.normalize.INDEXED_LENGTH`)
and no display, so these are candidates: :mod:`fhirbridge.rest.operations.meta` takes each
label from a resource that carries it, as its caller may see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhirbridge.storage.database import Connection

LABEL_PARAMETERS = ("_profile", "_security", "_tag")


@dataclass(frozen=True)
class IndexedLabel:
    """One label as the index holds it: the parameter, and ``system``/``code`` for a Coding
    (``_tag``, ``_security``) or ``code`` alone for a profile's canonical URL."""

    resource_type: str
    param: str
    system: str | None
    code: str | None


async def labels_in_use(conn: Connection, resource_types: list[str]) -> list[IndexedLabel]:
    """The distinct labels of the live resources of ``resource_types``, in a stable order
    (deleted resources keep no index rows)."""
    types = conn.dialect.in_list("$1")
    rows = await conn.fetch(
        "SELECT DISTINCT res_type, param, system, code FROM idx_token "
        f"WHERE res_type {types} AND param IN ('_security', '_tag') "
        "UNION SELECT DISTINCT res_type, param, NULL, value FROM idx_uri "
        f"WHERE res_type {types} AND param = '_profile' "
        "ORDER BY 1, 2, 3, 4",
        list(resource_types),
    )
    return [IndexedLabel(row[0], row[1], row[2], row[3]) for row in rows]

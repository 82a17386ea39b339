"""The rows one version of a resource brings: its index rows and links, table by table.

Shared by the engines' version writers (:mod:`.versions_sqlite`, :mod:`.versions_postgres`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Column, Table

from fhirbridge.search.index import IndexRows
from fhirbridge.storage.records import StoredResource

Link = tuple[str, str, str]  # element path, target type, target id


class NewVersion(NamedTuple):
    """The first version of a new resource, with everything it puts into the index."""

    record: StoredResource
    rows: IndexRows
    links: list[Link]


def columns(rows: Iterable[tuple[object, ...]], width: int) -> list[list[object]]:
    columns: list[list[object]] = [[] for _ in range(width)]
    for row in rows:
        for index, value in enumerate(row):
            columns[index].append(value)
    return columns


def value_columns(table: Table) -> list[Column[object]]:
    """The columns a row of the index supplies: all but the resource's key and type."""
    return [column for column in table.columns if column.name not in ("res_pk", "res_type")]


def row_groups(rows: IndexRows, links: list[Link]) -> tuple[list[tuple[object, ...]], ...]:
    """One version's rows for each table of :data:`INDEXED`, in its order."""
    return (rows.token, rows.string, rows.date, rows.reference, rows.uri, links)  # type: ignore[return-value]

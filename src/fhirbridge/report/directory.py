"""The care units the report counts by: every Organization, the unit it belongs to
(``partOf``), its caregiver (vårdgivare: the top of that chain), its name, and whether it is
municipal (an organisation number of a municipality on it or its caregiver;
``mappings/report.json``).  Read from the search index, never from resource content: the
directory is small (units, not patients), so it is held in Python while the figures are
aggregated in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhirbridge.report.facts import report_tables
from fhirbridge.storage.database import Connection

ORGANISATION_NUMBER = "urn:oid:2.5.4.97"
MAX_DEPTH = 32
"""A ``partOf`` chain longer than this is treated as ending there (a cycle cannot loop)."""


@dataclass(frozen=True)
class Directory:
    names: dict[str, str]
    parents: dict[str, str]
    municipal: frozenset[str]
    """Units that are municipal themselves or belong to a municipal caregiver."""

    def caregiver(self, unit: str) -> str:
        """The top of ``unit``'s ``partOf`` chain (the unit itself when it belongs to none)."""
        seen = 0
        while unit in self.parents and seen < MAX_DEPTH:
            unit, seen = self.parents[unit], seen + 1
        return unit

    def below(self, unit: str) -> frozenset[str]:
        """``unit`` and every unit under it."""
        return frozenset(other for other in self.names if unit in self.chain(other))

    def of_caregiver(self, caregiver: str) -> frozenset[str]:
        return frozenset(unit for unit in self.names if self.caregiver(unit) == caregiver)

    def name(self, unit: str | None) -> str:
        if unit is None:
            return "(ingen enhet)"
        return self.names.get(unit) or unit

    def chain(self, unit: str) -> list[str]:
        chain = [unit]
        while chain[-1] in self.parents and len(chain) <= MAX_DEPTH:
            chain.append(self.parents[chain[-1]])
        return chain


_ORGANISATIONS = """
SELECT r.res_id,
       (SELECT s.exact FROM idx_string s WHERE s.res_pk = r.pk AND s.param = 'name' LIMIT 1),
       (SELECT x.target_id FROM idx_reference x
         WHERE x.res_pk = r.pk AND x.param = 'partof' AND x.target_type = 'Organization' LIMIT 1)
FROM resources r WHERE r.res_type = 'Organization' AND NOT r.deleted
"""
_NUMBERS = """
SELECT r.res_id, t.code FROM idx_token t JOIN resources r ON r.pk = t.res_pk
WHERE t.res_type = 'Organization' AND t.param = 'identifier' AND t.system = $1 AND NOT r.deleted
"""


async def load_directory(conn: Connection) -> Directory:
    names: dict[str, str] = {}
    parents: dict[str, str] = {}
    for unit, name, parent in await conn.fetch(_ORGANISATIONS):
        names[unit] = name or unit
        if parent and parent != unit:
            parents[unit] = parent
    prefixes = tuple(report_tables()["municipal_organisation_number_prefixes"])
    numbered = {unit for unit, number in await conn.fetch(_NUMBERS, ORGANISATION_NUMBER) if number.startswith(prefixes)}
    directory = Directory(names, parents, frozenset())
    municipal = frozenset(unit for unit in names if any(link in numbered for link in directory.chain(unit)))
    return Directory(names, parents, municipal)

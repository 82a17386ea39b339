"""The report's SQL: one aggregating statement per group of figures, over the projection
(``report_*``) and the search index, written once for SQLite and PostgreSQL.  Each returns
grouped rows, never resources, each count beside the sum of its records' keys (the cell key
of :mod:`fhirbridge.report.cellkey`); the numbers inlined into the statements (month bounds, band
thresholds) are made here, never taken from a request.

A contract's unit is the Organization of its author (a PractitionerRole's ``organization``, or
an Organization author), resolved at query time so that a role moved to another unit counts
there at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.storage.database import Connection, Row

IN_FORCE = ("active", "on-hold")
"""A contract in force; its patient is a *contract patient*."""
FIXED_CARE_CONTACT = "fast-vardkontakt"
FIXED_DOCTOR = "fast-lakarkontakt"

_AUTHOR_UNITS = """au AS (
  SELECT 'PractitionerRole/' || r.res_id AS author, x.target_id AS unit_id
  FROM idx_reference x JOIN resources r ON r.pk = x.res_pk
  WHERE x.res_type = 'PractitionerRole' AND x.param = 'organization' AND x.target_type = 'Organization'
    AND NOT r.deleted
  UNION ALL
  SELECT 'Organization/' || r.res_id, r.res_id FROM resources r WHERE r.res_type = 'Organization' AND NOT r.deleted
)"""


Atom = tuple[str | None, int]
"""A unit (None: a contract whose author names none) and the index of a tertial of the period."""


@dataclass
class Scope:
    """The contracts and answers a report counts: a period on their start (authored), units,
    and the atoms left out (:mod:`fhirbridge.report.atoms`) by the family of figures they would
    count in."""

    conn: Connection
    units: frozenset[str] | None
    start: int
    end: int
    tertials: tuple[tuple[int, int], ...] = ()
    left_out: Mapping[str, frozenset[Atom]] = field(default_factory=dict)

    def during(self, column: str, args: list[Any]) -> str:
        """The condition that ``column`` falls within the scope's period (``args`` gets its bounds)."""
        args += [self.start, self.end]
        return f"{column} >= ${len(args) - 1} AND {column} < ${len(args)}"

    def leaves_out(self, family: str, unit: str, when: str, args: list[Any]) -> str:
        """The condition that a row (its ``unit`` and ``when`` columns) lies in an atom left out
        of ``family``'s figures."""
        atoms = self.left_out.get(family, frozenset())
        parts = []
        for index, (begins, ends) in enumerate(self.tertials):
            units = sorted(u for u, i in atoms if i == index and u is not None)
            either = [f"{unit} IS NULL"] if (None, index) in atoms else []
            if units:
                args.append(units)
                either.append(f"{unit} {self.conn.dialect.in_list(f'${len(args)}')}")
            if either:
                args += [begins, ends]
                parts.append(f"({when} >= ${len(args) - 1} AND {when} < ${len(args)} AND ({' OR '.join(either)}))")
        return "(" + " OR ".join(parts) + ")" if parts else "1 = 0"

    def contracts(self, args: list[Any], *more: str, family: str | None = None) -> str:
        """``WITH au …, c …``: the counted contracts with their unit, then the ``more`` named
        subqueries; ``args`` gets the parameters.  ``family``: leave out its small atoms
        (``offers``: contracts' for contracts, declined offers' for declined offers)."""
        where = [self.during("rc.started", args)]
        if self.units is not None:
            args.append(sorted(self.units))
            where.append(f"au.unit_id {self.conn.dialect.in_list(f'${len(args)}')}")
        if family == "offers":
            contracts = self.leaves_out("contracts", "au.unit_id", "rc.started", args)
            declined = self.leaves_out("declined", "au.unit_id", "rc.started", args)
            where.append(f"NOT ((NOT rc.declined AND {contracts}) OR (rc.declined AND {declined}))")
        elif family is not None:
            where.append(f"NOT {self.leaves_out(family, 'au.unit_id', 'rc.started', args)}")
        counted = (
            "c AS (SELECT rc.res_pk, rc.patient_id, rc.status, rc.started, rc.next_contact, "
            "rc.declined, rc.revised, rc.record_key, rc.patient_key, au.unit_id "
            "FROM report_contracts rc LEFT JOIN au ON au.author = rc.author WHERE " + " AND ".join(where) + ")"
        )
        return "WITH " + ",\n".join((_AUTHOR_UNITS, counted, *more)) + "\n"

    def tertial_of(self, column: str) -> str:
        """The index of the tertial ``column`` falls in (the bounds are made here, not asked for)."""
        whens = " ".join(f"WHEN {column} < {ends} THEN {index}" for index, (_, ends) in enumerate(self.tertials[:-1]))
        return f"CASE {whens} ELSE {len(self.tertials) - 1} END" if whens else "0"


def _in_force(alias: str = "c") -> str:
    statuses = ", ".join(f"'{s}'" for s in IN_FORCE)
    return f"NOT {alias}.declined AND {alias}.status IN ({statuses})"


HOUR = 3_600_000_000


async def by_hour_and_status(scope: Scope) -> list[Row]:
    """(hour since the epoch, status, contracts, their keys' sum) for contracts (declined offers aside) by when
    they began: Swedish months are whole hours, so the caller sums hours into months exactly,
    without a time-zone function in either database."""
    args: list[Any] = []
    sql = scope.contracts(args, family="contracts") + (
        f"SELECT c.started / {HOUR} AS h, c.status, COUNT(*), SUM(c.record_key) FROM c "
        "WHERE NOT c.declined AND c.started IS NOT NULL GROUP BY 1, 2"
    )
    return await scope.conn.fetch(sql, *args)


async def by_unit(scope: Scope) -> list[Row]:
    """(unit, declined offer 0/1, contracts, their keys' sum)."""
    args: list[Any] = []
    sql = scope.contracts(args, family="offers") + (
        "SELECT c.unit_id, CASE WHEN c.declined THEN 1 ELSE 0 END AS d, COUNT(*), SUM(c.record_key) FROM c "
        "GROUP BY c.unit_id, d"
    )
    return await scope.conn.fetch(sql, *args)


async def by_revision_age(scope: Scope, as_of: int, bands: Sequence[tuple[str, int]]) -> list[Row]:
    """(band, contracts in force, their keys' sum) by the time since their last revision; ``bands`` are
    (label, oldest revision instant in the band), youngest band first, the last open-ended."""
    args: list[Any] = []
    whens = " ".join(f"WHEN c.revised >= {since} THEN '{label}'" for label, since in bands[:-1])
    sql = scope.contracts(args, family="in_force") + (
        f"SELECT CASE {whens} ELSE '{bands[-1][0]}' END AS band, COUNT(*), SUM(c.record_key) FROM c "
        f"WHERE {_in_force()} GROUP BY band"
    )
    return await scope.conn.fetch(sql, *args)


async def contract_patients(
    scope: Scope, as_of: int, age_bands: Sequence[tuple[str, int]], municipal: frozenset[str]
) -> list[Row]:
    """Contract patients grouped by (age band, sex, main condition chapter, municipal 0/1,
    active fixed care contact 0/1, active fixed doctor 0/1, agreed next time ahead 0/1), with
    their number and their patient keys' sum.  ``age_bands`` are (label, earliest birth instant
    in the band), youngest first.

    Every part is a set joined by hash or index (no subquery per row): the municipal contracts,
    each patient's active fixed roles and main condition chapter, the Patient's index rows."""
    args: list[Any] = []
    scope.contracts(args, family="in_force")  # numbers the scope's parameters first
    args += [sorted(municipal), as_of]
    units, now = f"${len(args) - 1}", f"${len(args)}"
    ages = " ".join(f"WHEN b.low >= {born} THEN '{label}'" for label, born in age_bands[:-1])
    parts = (
        "mc AS (SELECT DISTINCT u.res_pk FROM report_contract_units u JOIN au a2 ON a2.author = u.unit "
        f"WHERE a2.unit_id {scope.conn.dialect.in_list(units)})",
        "p AS (SELECT c.patient_id, MAX(c.next_contact) AS next_contact, MAX(c.patient_key) AS pkey, "
        "MAX(CASE WHEN mc.res_pk IS NULL THEN 0 ELSE 1 END) AS municipal "
        f"FROM c LEFT JOIN mc ON mc.res_pk = c.res_pk WHERE {_in_force()} AND c.patient_id IS NOT NULL "
        "GROUP BY c.patient_id)",
        "f AS (SELECT patient_id, "
        f"MAX(CASE WHEN role = '{FIXED_CARE_CONTACT}' THEN 1 ELSE 0 END) AS fvk, "
        f"MAX(CASE WHEN role = '{FIXED_DOCTOR}' THEN 1 ELSE 0 END) AS fld FROM report_fixed_roles "
        f"WHERE (begins IS NULL OR begins <= {now}) AND (ends IS NULL OR ends > {now}) GROUP BY patient_id)",
        "k AS (SELECT patient_id, MIN(chapter) AS chapter FROM report_conditions GROUP BY patient_id)",
    )
    sql = scope.contracts([], *parts, family="in_force") + (
        f"SELECT CASE WHEN b.low IS NULL THEN 'okänd' {ages} ELSE '{age_bands[-1][0]}' END AS band, "
        "COALESCE(g.code, 'unknown') AS sex, k.chapter, p.municipal, COALESCE(f.fvk, 0) AS fvk, "
        f"COALESCE(f.fld, 0) AS fld, CASE WHEN p.next_contact > {now} THEN 1 ELSE 0 END AS ahead, COUNT(*), "
        "SUM(p.pkey) "
        "FROM p LEFT JOIN f ON f.patient_id = p.patient_id LEFT JOIN k ON k.patient_id = p.patient_id "
        "LEFT JOIN resources pr ON pr.res_type = 'Patient' AND pr.res_id = p.patient_id AND NOT pr.deleted "
        "LEFT JOIN idx_date b ON b.res_pk = pr.pk AND b.res_type = 'Patient' AND b.param = 'birthdate' "
        "LEFT JOIN idx_token g ON g.res_pk = pr.pk AND g.res_type = 'Patient' AND g.param = 'gender' "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )
    return await scope.conn.fetch(sql, *args)


async def answers(scope: Scope) -> list[Row]:
    """(unit, respondent, responses, all seven yes, then yes and answered for q1..q7), each count
    followed by its records' keys' sum."""
    args: list[Any] = []
    where = _answers_where(scope, args)
    patients = scope.leaves_out("patient", "unit_id", "authored", args)
    staff = scope.leaves_out("staff", "unit_id", "authored", args)
    where.append(f"NOT ((respondent = 'patient' AND {patients}) OR (respondent = 'staff' AND {staff}))")
    questions = [f"q{n}" for n in range(1, 8)]
    all_yes = " AND ".join(f"{q} = 1" for q in questions)
    sums = ", ".join(
        f"SUM({q}), SUM(CASE WHEN {q} = 1 THEN record_key ELSE 0 END), "
        f"COUNT({q}), SUM(CASE WHEN {q} IS NULL THEN 0 ELSE record_key END)"
        for q in questions
    )
    sql = (
        "SELECT unit_id, respondent, COUNT(*), SUM(record_key), "
        f"SUM(CASE WHEN {all_yes} THEN 1 ELSE 0 END), SUM(CASE WHEN {all_yes} THEN record_key ELSE 0 END), {sums} "
        "FROM report_answers WHERE " + " AND ".join(where) + " GROUP BY unit_id, respondent"
    )
    return await scope.conn.fetch(sql, *args)


def _answers_where(scope: Scope, args: list[Any]) -> list[str]:
    where = [scope.during("authored", args)]
    if scope.units is not None:
        args.append(sorted(scope.units))
        where.append(f"unit_id {scope.conn.dialect.in_list(f'${len(args)}')}")
    return where


async def contract_atoms(scope: Scope) -> list[Row]:
    """(unit, tertial index, contracts, declined offers, patients with a contract in force) of
    every atom of the scope, nothing left out."""
    args: list[Any] = []
    sql = scope.contracts(args) + (
        f"SELECT c.unit_id, {scope.tertial_of('c.started')} AS t, "
        "SUM(CASE WHEN c.declined THEN 0 ELSE 1 END), SUM(CASE WHEN c.declined THEN 1 ELSE 0 END), "
        f"COUNT(DISTINCT CASE WHEN {_in_force()} THEN c.patient_id END) FROM c GROUP BY 1, 2"
    )
    return await scope.conn.fetch(sql, *args)


async def answer_atoms(scope: Scope) -> list[Row]:
    """(unit, respondent, tertial index, responses) of every atom of the scope."""
    args: list[Any] = []
    where = _answers_where(scope, args)
    sql = (
        f"SELECT unit_id, respondent, {scope.tertial_of('authored')} AS t, COUNT(*) FROM report_answers "
        f"WHERE {' AND '.join(where)} GROUP BY 1, 2, 3"
    )
    return await scope.conn.fetch(sql, *args)

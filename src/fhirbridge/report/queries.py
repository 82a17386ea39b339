"""The report's SQL, written once for SQLite and PostgreSQL: freezing a tertial (from the
projection, ``report_*``, and the search index, into ``report_frozen_*``), then the grouped
figures over the frozen rows.  Each figure query returns grouped rows, never resources, each count
beside the sum of its records' keys (the cell key of :mod:`fhirbridge.report.cellkey`); the
numbers inlined into the statements (tertial bounds, band thresholds) are made here, never taken
from a request.

A contract's unit is the Organization of its author (a PractitionerRole's ``organization``, or
an Organization author), as it was when its tertial was frozen.
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
QUESTIONS = tuple(f"q{n}" for n in range(1, 8))
HOUR = 3_600_000_000

_AUTHOR_UNITS = """au AS (
  SELECT 'PractitionerRole/' || r.res_id AS author, x.target_id AS unit_id
  FROM idx_reference x JOIN resources r ON r.pk = x.res_pk
  WHERE x.res_type = 'PractitionerRole' AND x.param = 'organization' AND x.target_type = 'Organization'
    AND NOT r.deleted
  UNION ALL
  SELECT 'Organization/' || r.res_id, r.res_id FROM resources r WHERE r.res_type = 'Organization' AND NOT r.deleted
)"""

Atom = tuple[str | None, int]
"""A unit (None: a contract whose author names none) and the first instant of a tertial."""


def _in_force(alias: str = "c") -> str:
    statuses = ", ".join(f"'{s}'" for s in IN_FORCE)
    return f"NOT {alias}.declined AND {alias}.status IN ({statuses})"


# -- freezing a tertial -------------------------------------------------------------------


@dataclass(frozen=True)
class Tertial:
    """A tertial to freeze: ``[start, end)``, and the bands as of its end."""

    start: int
    end: int
    age_bands: Sequence[tuple[str, int]]
    """(label, earliest birth instant of someone that young), youngest first."""
    revision_bands: Sequence[tuple[str, int]]
    """(label, oldest revision instant in the band), youngest first, the last open-ended."""


async def freeze_contracts(conn: Connection, tertial: Tertial, municipal: frozenset[str]) -> None:
    """Copy every contract begun in ``tertial`` (every unit) into ``report_frozen_contracts``
    with what the figures count of it, as of the tertial's end: its unit, the patient's age
    band, sex, main condition chapter, municipal care, active fixed care contact and doctor, a
    next time ahead, the time since its last revision.  ``patient_row`` marks one contract in
    force per patient and unit (their latest): the patient figures count those.

    Every part is a set joined by hash or index (no subquery per row)."""
    as_of = tertial.end - 1
    ages = " ".join(f"WHEN b.low >= {born} THEN '{label}'" for label, born in tertial.age_bands[:-1])
    revisions = " ".join(f"WHEN c.revised >= {since} THEN '{label}'" for label, since in tertial.revision_bands[:-1])
    sql = (
        "INSERT INTO report_frozen_contracts (tertial_start, res_pk, unit_id, patient_id, started, status, declined, "
        "record_key, patient_key, in_force, patient_row, age_band, sex, chapter, municipal, fvk, fld, ahead, "
        "revision_band) WITH "
        + ",\n".join(
            (
                _AUTHOR_UNITS,
                "c AS (SELECT rc.*, au.unit_id FROM report_contracts rc LEFT JOIN au ON au.author = rc.author "
                "WHERE rc.started >= $1 AND rc.started < $2)",
                "mc AS (SELECT DISTINCT u.res_pk FROM report_contract_units u JOIN au a2 ON a2.author = u.unit "
                f"WHERE a2.unit_id {conn.dialect.in_list('$3')})",
                "f AS (SELECT patient_id, "
                f"MAX(CASE WHEN role = '{FIXED_CARE_CONTACT}' THEN 1 ELSE 0 END) AS fvk, "
                f"MAX(CASE WHEN role = '{FIXED_DOCTOR}' THEN 1 ELSE 0 END) AS fld FROM report_fixed_roles "
                "WHERE (begins IS NULL OR begins <= $4) AND (ends IS NULL OR ends > $4) GROUP BY patient_id)",
                "k AS (SELECT patient_id, MIN(chapter) AS chapter FROM report_conditions GROUP BY patient_id)",
                f"n AS (SELECT c.res_pk, CASE WHEN {_in_force()} AND c.patient_id IS NOT NULL THEN 1 ELSE 0 END AS i, "
                f"ROW_NUMBER() OVER (PARTITION BY c.patient_id, c.unit_id, CASE WHEN {_in_force()} THEN 1 ELSE 0 END "
                "ORDER BY c.started DESC, c.res_pk DESC) AS nth FROM c)",
            )
        )
        + "\nSELECT $1, c.res_pk, c.unit_id, c.patient_id, c.started, c.status, c.declined, c.record_key, "
        "c.patient_key, n.i, "
        "CASE WHEN n.i = 1 AND n.nth = 1 THEN 1 ELSE 0 END, "
        f"CASE WHEN b.low IS NULL THEN 'okänd' {ages} ELSE '{tertial.age_bands[-1][0]}' END, "
        "COALESCE(g.code, 'unknown'), k.chapter, CASE WHEN mc.res_pk IS NULL THEN 0 ELSE 1 END, "
        "COALESCE(f.fvk, 0), COALESCE(f.fld, 0), CASE WHEN c.next_contact > $4 THEN 1 ELSE 0 END, "
        f"CASE {revisions} ELSE '{tertial.revision_bands[-1][0]}' END "
        "FROM c JOIN n ON n.res_pk = c.res_pk LEFT JOIN mc ON mc.res_pk = c.res_pk "
        "LEFT JOIN f ON f.patient_id = c.patient_id LEFT JOIN k ON k.patient_id = c.patient_id "
        "LEFT JOIN resources pr ON pr.res_type = 'Patient' AND pr.res_id = c.patient_id AND NOT pr.deleted "
        "LEFT JOIN idx_date b ON b.res_pk = pr.pk AND b.res_type = 'Patient' AND b.param = 'birthdate' "
        "LEFT JOIN idx_token g ON g.res_pk = pr.pk AND g.res_type = 'Patient' AND g.param = 'gender'"
    )
    await conn.execute(sql, tertial.start, tertial.end, sorted(municipal), as_of)


async def freeze_answers(conn: Connection, tertial: Tertial) -> None:
    """Copy the seven-questions responses authored in ``tertial`` into ``report_frozen_answers``:
    a patient's latest per unit only (a patient counts once, however often they answered)."""
    questions = ", ".join(QUESTIONS)
    sql = (
        f"INSERT INTO report_frozen_answers (tertial_start, unit_id, respondent, {questions}, record_key) "
        f"SELECT $1, unit_id, respondent, {questions}, record_key FROM ("
        f"SELECT a.*, ROW_NUMBER() OVER (PARTITION BY a.respondent, a.unit_id, "
        "CASE WHEN a.patient_id IS NULL THEN CAST(a.res_pk AS TEXT) ELSE a.patient_id END "
        "ORDER BY a.authored DESC, a.res_pk DESC) AS nth "
        "FROM report_answers a WHERE a.authored >= $1 AND a.authored < $2) latest WHERE nth = 1"
    )
    await conn.execute(sql, tertial.start, tertial.end)


# -- the figures, over frozen rows ----------------------------------------------------------


@dataclass
class Scope:
    """What a report counts: the frozen rows of its tertials and units, without the atoms left
    out (:mod:`fhirbridge.report.atoms`) of the family of figures they would count in."""

    conn: Connection
    units: frozenset[str] | None
    tertials: tuple[int, ...]
    """The first instants of the period's tertials."""
    left_out: Mapping[str, frozenset[Atom]] = field(default_factory=dict)

    def rows(self, args: list[Any]) -> str:
        """The condition that a frozen row is in the scope (``args`` gets its parameters)."""
        args.append(list(self.tertials))
        where = [f"tertial_start {self.conn.dialect.in_list(f'${len(args)}')}"]
        if self.units is not None:
            args.append(sorted(self.units))
            where.append(f"unit_id {self.conn.dialect.in_list(f'${len(args)}')}")
        return " AND ".join(where)

    def leaves_out(self, family: str, args: list[Any]) -> str:
        """The condition that a frozen row lies in an atom left out of ``family``'s figures."""
        atoms = self.left_out.get(family, frozenset())
        parts = []
        for tertial in self.tertials:
            units = sorted(u for u, t in atoms if t == tertial and u is not None)
            either = ["unit_id IS NULL"] if (None, tertial) in atoms else []
            if units:
                args.append(units)
                either.append(f"unit_id {self.conn.dialect.in_list(f'${len(args)}')}")
            if either:
                args.append(tertial)
                parts.append(f"(tertial_start = ${len(args)} AND ({' OR '.join(either)}))")
        return "(" + " OR ".join(parts) + ")" if parts else "1 = 0"


async def by_hour_and_status(scope: Scope) -> list[Row]:
    """(hour since the epoch, status, contracts, their keys' sum) for contracts (declined offers
    aside) by when they began: Swedish months are whole hours, so the caller sums hours into
    months exactly, without a time-zone function in either database."""
    args: list[Any] = []
    where = scope.rows(args)
    sql = (
        f"SELECT started / {HOUR} AS h, status, COUNT(*), SUM(record_key) FROM report_frozen_contracts "
        f"WHERE {where} AND NOT declined AND started IS NOT NULL AND NOT {scope.leaves_out('contracts', args)} "
        "GROUP BY 1, 2"
    )
    return await scope.conn.fetch(sql, *args)


async def by_unit(scope: Scope) -> list[Row]:
    """(unit, declined offer 0/1, contracts, their keys' sum)."""
    args: list[Any] = []
    where = scope.rows(args)
    contracts, declined = scope.leaves_out("contracts", args), scope.leaves_out("declined", args)
    sql = (
        "SELECT unit_id, CASE WHEN declined THEN 1 ELSE 0 END AS d, COUNT(*), SUM(record_key) "
        f"FROM report_frozen_contracts WHERE {where} "
        f"AND NOT ((NOT declined AND {contracts}) OR (declined AND {declined})) GROUP BY unit_id, d"
    )
    return await scope.conn.fetch(sql, *args)


async def by_revision_age(scope: Scope) -> list[Row]:
    """(band, contract patients, their keys' sum) by the time since their contract's last revision."""
    args: list[Any] = []
    where = scope.rows(args)
    sql = (
        "SELECT revision_band, COUNT(*), SUM(record_key) FROM report_frozen_contracts "
        f"WHERE {where} AND patient_row = 1 AND NOT {scope.leaves_out('in_force', args)} GROUP BY 1"
    )
    return await scope.conn.fetch(sql, *args)


async def contract_patients(scope: Scope) -> list[Row]:
    """Contract patients (one per unit and tertial) grouped by (age band, sex, main condition
    chapter, municipal 0/1, active fixed care contact 0/1, active fixed doctor 0/1, agreed next
    time ahead 0/1), with their number and their patient keys' sum."""
    args: list[Any] = []
    where = scope.rows(args)
    sql = (
        "SELECT age_band, sex, chapter, municipal, fvk, fld, ahead, COUNT(*), SUM(patient_key) "
        f"FROM report_frozen_contracts WHERE {where} AND patient_row = 1 "
        f"AND NOT {scope.leaves_out('in_force', args)} GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )
    return await scope.conn.fetch(sql, *args)


async def answers(scope: Scope) -> list[Row]:
    """(unit, respondent, responses, all seven yes, then yes and answered for q1..q7), each count
    followed by its records' keys' sum."""
    args: list[Any] = []
    where = scope.rows(args)
    patients, staff = scope.leaves_out("patient", args), scope.leaves_out("staff", args)
    all_yes = " AND ".join(f"{q} = 1" for q in QUESTIONS)
    sums = ", ".join(
        f"SUM({q}), SUM(CASE WHEN {q} = 1 THEN record_key ELSE 0 END), "
        f"COUNT({q}), SUM(CASE WHEN {q} IS NULL THEN 0 ELSE record_key END)"
        for q in QUESTIONS
    )
    sql = (
        "SELECT unit_id, respondent, COUNT(*), SUM(record_key), "
        f"SUM(CASE WHEN {all_yes} THEN 1 ELSE 0 END), SUM(CASE WHEN {all_yes} THEN record_key ELSE 0 END), {sums} "
        f"FROM report_frozen_answers WHERE {where} "
        f"AND NOT ((respondent = 'patient' AND {patients}) OR (respondent = 'staff' AND {staff})) "
        "GROUP BY unit_id, respondent"
    )
    return await scope.conn.fetch(sql, *args)


async def contract_atoms(scope: Scope) -> list[Row]:
    """(unit, tertial, patients with contracts, patients with declined offers, contract patients)
    of every atom of the scope: sized by people, not records (one patient's five contracts are
    one; a contract naming no patient counts as one of its own)."""
    args: list[Any] = []
    sql = (
        "SELECT unit_id, tertial_start, "
        "COUNT(DISTINCT CASE WHEN NOT declined THEN COALESCE(patient_id, 'contract/' || CAST(res_pk AS TEXT)) END), "
        "COUNT(DISTINCT CASE WHEN declined THEN COALESCE(patient_id, 'contract/' || CAST(res_pk AS TEXT)) END), "
        "SUM(patient_row) "
        f"FROM report_frozen_contracts WHERE {scope.rows(args)} GROUP BY 1, 2"
    )
    return await scope.conn.fetch(sql, *args)


async def answer_atoms(scope: Scope) -> list[Row]:
    """(unit, respondent, tertial, responses) of every atom of the scope."""
    args: list[Any] = []
    sql = (
        "SELECT unit_id, respondent, tertial_start, COUNT(*) FROM report_frozen_answers "
        f"WHERE {scope.rows(args)} GROUP BY 1, 2, 3"
    )
    return await scope.conn.fetch(sql, *args)

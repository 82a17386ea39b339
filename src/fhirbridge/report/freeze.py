"""Freezing a tertial: the report counts records as they stood when their tertial was frozen.

Reviews 14-16 found that reports computed at different times differ by what was written in
between: a contract completed, a main condition recorded, a role moved to another unit, a late
entry.  Two releases made before and after such a change differ by exactly that patient.  So the
first report that needs a tertial that has ended freezes it: every contract begun in it (every
unit) with everything the figures count of it as of the tertial's end (its unit, the patient's
age band, sex, main condition chapter, municipal care, fixed contacts, next time, revision age),
and every seven-questions response authored in it (a patient's latest per unit), are copied
into ``report_frozen_*`` once, in one transaction, and never changed.  Every report of that
tertial, and of its year, over any units, is made from those rows, so two reports differ only
by whole (unit, tertial) atoms (:mod:`fhirbridge.report.atoms`), whenever they were asked for.

A correction or late entry about a frozen tertial is not counted: the frozen rows are what was
known when the tertial was first reported on (``report_frozen_tertials.frozen_at``).  Two
instances freezing the same tertial at once take turns (a lock on the tertial); the second finds
it frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fhirbridge.fhir.instants import now_us
from fhirbridge.report import queries
from fhirbridge.report.directory import load_directory
from fhirbridge.storage.database import Database

Bands = Callable[[int], tuple[Sequence[tuple[str, int]], Sequence[tuple[str, int]]]]
"""The (age bands, revision bands) as of an instant (:mod:`fhirbridge.report.engine`)."""

_FROZEN = "SELECT 1 FROM report_frozen_tertials WHERE tertial_start = $1"
_MARK = "INSERT INTO report_frozen_tertials (tertial_start, frozen_at) VALUES ($1, $2)"


async def ensure_frozen(database: Database, tertials: Sequence[tuple[int, int]], bands: Bands) -> None:
    """Freeze each of ``tertials`` (``[start, end)``, ended) that is not frozen yet."""
    async with database.reader() as conn:
        missing = [(start, end) for start, end in tertials if await conn.fetchval(_FROZEN, start) is None]
    for start, end in missing:
        async with database.transaction(heavy=True) as conn:
            await conn.advisory_lock(f"report-freeze-{start}")
            if await conn.fetchval(_FROZEN, start) is not None:
                continue  # another instance froze it meanwhile
            directory = await load_directory(conn)
            ages, revisions = bands(end - 1)
            tertial = queries.Tertial(start, end, ages, revisions)
            await queries.freeze_contracts(conn, tertial, directory.municipal)
            await queries.freeze_answers(conn, tertial)
            await conn.execute(_MARK, start, now_us())

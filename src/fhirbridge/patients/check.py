"""``fhirbridge db check``: are the database's Patients one per person?

Two findings, read from the stored Patients and the search index (so it runs on any schema
version, before the migration that adds the unique identities too):

* **shared numbers**: a personnummer, samordningsnummer or reserve number that several active
  Patients hold (:func:`~fhirbridge.patients.identity.shared_numbers`); they are linked with
  ``Patient/$merge``.  After the migration the database refuses new ones, but a reserve-number
  system declared later (``FHIRBRIDGE_RESERVE_NUMBER_SYSTEMS``) can reveal old ones;
* **unfinished links**: a replaced Patient that resources still refer to (a link made by hand,
  before this version); merging the same pair again moves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhirbridge.fhir.jsonio import loads
from fhirbridge.patients.identity import IdentitySystems, SharedNumber, replaced_by, shared_numbers
from fhirbridge.patients.links import RECORDS_OF_THE_PAST
from fhirbridge.storage import identities, store
from fhirbridge.storage.database import Database

MOST_COUNTED = 1000


@dataclass(frozen=True)
class UnfinishedLink:
    patient_id: str
    replaced_by: str
    referrers: int


@dataclass
class IdentityReport:
    shared: list[SharedNumber] = field(default_factory=list)
    unfinished: list[UnfinishedLink] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.shared and not self.unfinished


async def check_identities(database: Database, systems: IdentitySystems) -> IdentityReport:
    """What ``fhirbridge db check`` reports (see the module)."""
    report = IdentityReport()
    async with database.reader(snapshot=True, heavy=True) as conn:
        candidates = await identities.contents(conn, identities.SHARED_CANDIDATES)
        report.shared = shared_numbers(((i, loads(c)) for i, c in candidates), systems)
        for patient_id, content in await identities.contents(conn, identities.LINKED):
            successor = replaced_by(loads(content))
            if successor is None:
                continue
            found = await store.referrers(conn, "Patient", patient_id, limit=MOST_COUNTED)
            referring = {(t, i) for t, i, _ in found if t not in RECORDS_OF_THE_PAST}
            if referring:
                report.unfinished.append(UnfinishedLink(patient_id, successor, len(referring)))
    return report

"""The cell-key method: noise that differencing cannot take away (statistical disclosure control).

Small-cell suppression protects one table against its own total, but not two overlapping
queries against each other: the whole region minus one caregiver, or January–March minus
January–February, can leave exactly one patient.  The follow-up report therefore perturbs
every published count with the *cell-key method* of the Australian Bureau of Statistics
(TableBuilder; Fraser & Wooton, "A proposed method for confidentialising tabular output to
protect against differencing", UNECE work session on statistical data confidentiality, 2005)
as the UK Office for National Statistics uses it for the census tables (ONS, "Protecting
personal data in Census 2021 results", 2022):

* every record gets a fixed random **record key** in ``0 … RANGE-1``: an HMAC of the record
  (a contract or response by its storage key, a patient by id) under the server's secret
  (``FHIRBRIDGE_REPORT_KEY_SECRET``, or the one the database generated; see
  :mod:`fhirbridge.report.secret`), stored in the projection tables when the record is written;
* a cell's **cell key** is the sum of its records' keys modulo ``RANGE``, summed in SQL;
* the published count is the true count plus the entry of a fixed **perturbation table** for
  (count, cell key): the same records always get the same noise, so asking again teaches
  nothing, while two overlapping queries differ by noise and not by the patient.

One departure from the census tables (review 14): there, a cell whose records did not change
keeps its value exactly, so two reports whose records differ by one patient tell *which* cells
changed, and so that patient's sex, age band and condition.  Here each cell's key is mixed
(:func:`salt`) with the key of its figure's whole population and with the cell's place in the
figure: when a single record of the population changes, every cell of the figure takes new
noise, and two cells with the same records (a rate's numerator and denominator aside) take
independent noise.

Parameters: ``RANGE`` 256; noise 0 with probability 1/2, ±1 with 3/16 each, ±2 with 1/16
each (mean 0, variance 7/8); a count below ``minimum`` is suppressed before (never perturbed
into view), a shown count is never perturbed below ``minimum``, and 0 stays 0.  A published
count is within ``MAX_NOISE`` (±2) of the true one; a total is perturbed as a cell of its own,
so cells need not add up to it exactly.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

RANGE = 256
MAX_NOISE = 2
_NOISE = ((128, 0), (176, 1), (224, -1), (240, 2), (256, -2))
"""(first cell key past the stretch, noise): the perturbation table's columns, as stretches of
the cell key (0–127: 0; 128–175: +1; 176–223: −1; 224–239: +2; 240–255: −2)."""


@dataclass(frozen=True)
class Tally:
    """A cell before publication: its true count and its cell key."""

    count: int
    key: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.count + other.count, (self.key + other.key) % RANGE)


ZERO = Tally(0, 0)


def tally(count: object, key_sum: object) -> Tally:
    """A tally from a SQL row's count and sum of record keys (either may be NULL)."""
    return Tally(int(str(count or 0)), int(str(key_sum or 0)) % RANGE)


def noise(cell_key: int) -> int:
    """The perturbation table's entry for a cell key."""
    return next(value for bound, value in _NOISE if cell_key % RANGE < bound)


def perturb(cell: Tally, minimum: int, salt: int | None = None) -> int:
    """The published count of a shown cell: 0 stays 0; otherwise its count plus the table's
    noise for its cell key (mixed with ``salt``: :func:`salt`), never below ``minimum`` (a
    perturbed count does not pose as a suppressed one)."""
    if cell.count == 0:
        return 0
    key = cell.key if salt is None else _mix(cell.key, salt)
    return max(cell.count + noise(key), minimum, 1)


def salt(population: Tally, figure: str, place: tuple[str, ...]) -> int:
    """What a cell's key is mixed with: its figure's population key, so that any change of the
    population gives every cell new noise, and a fixed key of the cell's ``place`` in the
    ``figure`` (public: the record keys stay secret), so that cells of one figure with the same
    records do not share their noise.  Mixed by a hash, not added: a sum would move every cell
    of the figure by the same step, and a small step would leave most of them where they were."""
    label = int.from_bytes(hashlib.sha256("\x1f".join((figure, *place)).encode()).digest()[:4], "big")
    return label * RANGE + population.key % RANGE


def _mix(key: int, salt: int) -> int:
    return hashlib.blake2b(f"{key % RANGE}/{salt}".encode(), digest_size=1).digest()[0] % RANGE


class RecordKeys:
    """Record keys under one secret: HMAC-SHA-256, first byte (uniform over ``RANGE``)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _key(self, text: str) -> int:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).digest()[0] % RANGE

    def record(self, pk: int) -> int:
        """A contract's or a response's key (by its storage key: fixed across its versions)."""
        return self._key(f"record/{pk}")

    def patient(self, patient_id: str | None) -> int:
        """A patient's key: the same in every contract of theirs, so a patient counts once."""
        return self._key(f"patient/{patient_id}") if patient_id is not None else 0

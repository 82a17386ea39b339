"""What the access policy keeps between requests about each patient: who they are now (after
merges) and what :func:`~fhirbridge.access.facts.load_facts` read, valid while the patient's and
the directory's access epochs (:mod:`fhirbridge.storage.epochs`) stay where they were, and no
consent, block or grant read has begun or ended since.  One query for the epochs replaces the
several that load the facts; a write anywhere (on any instance) raises the epochs in its own
transaction, so nothing kept outlives the change that makes it wrong.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from fhirbridge.access.facts import PatientFacts
from fhirbridge.contract.care_network import Directory

MOST_KEPT = 20_000
"""Patients kept at once (least recently used first out)."""


@dataclass
class Kept:
    epochs: tuple[int, ...]
    """The epochs of the patient, their survivor (when merged) and the directory, when read."""
    survivor: str
    facts: dict[bool, PatientFacts] = field(default_factory=dict)
    """By ``care`` (see :func:`~fhirbridge.access.facts.load_facts`)."""


@dataclass
class KeptDirectory:
    """The people and units (Practitioner, PractitionerRole, Organization) read while the
    directory's epoch was ``epoch``: every directory write raises it, so a newer epoch starts a
    new one.  Shared by every patient's facts; what was read is never changed in it."""

    epoch: int
    resources: Directory = field(default_factory=dict)


class KeptFacts:
    """A bounded map from patient id to :class:`Kept`."""

    def __init__(
        self, most: int = MOST_KEPT, *, directory_of: KeptFacts | None = None, facts_of: KeptFacts | None = None
    ) -> None:
        self.most = most
        self._directory_of = directory_of
        """Whose directory this one reads and adds to, at the epoch it keeps (a write's checks
        borrow the service's)."""
        self._facts_of = facts_of
        """Whose patients this one starts from (copied, never changed): a write's checks borrow
        what the service read, still judged by the epochs they read on the write's connection."""
        self._entries: OrderedDict[str, Kept] = OrderedDict()
        self.units: dict[str, tuple[int, frozenset[str]]] = {}
        """A caller's unit → (the directory epoch, the unit and every unit above it)."""
        self._directory = KeptDirectory(-1)

    def directory(self, epoch: int) -> Directory:
        """The directory as read at ``epoch``: kept while no newer epoch is seen.  A request
        that read an older epoch (another request saw a newer one meanwhile) gets one of its
        own, so that what it reads is never kept under the newer epoch."""
        if self._directory_of is not None and epoch == self._directory_of._directory.epoch:
            # A write borrows the service's directory only at the epoch the service read on
            # committed state: a write that sees a newer epoch may be seeing another write's
            # uncommitted change (SQLite's group commit), which must never be kept for others.
            return self._directory_of.directory(epoch)
        if epoch > self._directory.epoch or len(self._directory.resources) > self.most:
            self._directory = KeptDirectory(epoch)
        if epoch == self._directory.epoch:
            return self._directory.resources
        return {}

    def get(self, patient_id: str) -> Kept | None:
        kept = self._entries.get(patient_id)
        if kept is not None:
            self._entries.move_to_end(patient_id)
        elif self._facts_of is not None and (lent := self._facts_of._entries.get(patient_id)) is not None:
            kept = Kept(lent.epochs, lent.survivor, dict(lent.facts))
            self.put(patient_id, kept)
        return kept

    def put(self, patient_id: str, kept: Kept) -> None:
        self._entries[patient_id] = kept
        self._entries.move_to_end(patient_id)
        while len(self._entries) > self.most:
            self._entries.popitem(last=False)
        if len(self.units) > self.most:
            self.units.clear()

"""The access policy's per-request memos (``Identity.decisions``), and forgetting the ones that
grow with what a request judges.

A request judges a page: its memos (each patient's standing, each Provenance target read and
judged, each version parsed, each unit's line of units above it) hold a page's worth and go
with the request.  A bulk export (Bulk Data 2.0 export.html) judges every page of every type
under one identity, so these memos would grow with the export (a region's 100,000 contracts,
their patients and Provenances); the export forgets them before each page
(:func:`forget_grown`), so that its memory is bounded by a page, whatever its size.  What the
policy keeps between requests (:mod:`.kept`: patients' facts by their epochs, the directory)
is untouched, so a page judges from it as the next request would; what is exported is the same.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.identity import Identity

GROWING = ("patients", "targets", "judged", "parsed", "unit-lines")
"""The memos with an entry per patient, target version, parsed version or unit judged
(:meth:`~fhirbridge.access.policy.AccessPolicy.decide`, :mod:`.targets`,
:func:`~fhirbridge.access.unit_owned.may_reach_units`); the others (the caller's own units,
the Patient ids of the caller's person, the access log's record) hold one thing each."""


def forget_grown(identity: Identity) -> None:
    """Forget the memos that grow with what is judged (:data:`GROWING`)."""
    for name in GROWING:
        identity.decisions.pop(name, None)


def held(identity: Identity) -> int:
    """How many entries the growing memos hold (what a page leaves behind)."""
    return sum(_size(identity.decisions.get(name)) for name in GROWING)


def _size(memo: Any) -> int:
    if isinstance(memo, tuple):  # the judgements, with the kept facts they were made under
        return sum(_size(part) for part in memo if isinstance(part, dict))
    return len(memo) if isinstance(memo, dict) else 0

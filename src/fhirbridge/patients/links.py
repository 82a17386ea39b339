"""Replaced Patients stay replaced, and nothing new is filed under them (R4 patient.html#links).

A ``replaced-by`` link says "this Patient must no longer be used; use that one".  Once a merge
(:mod:`.merge`) has moved a Patient's records to the one that replaces it, two rules keep it so:

* **Links change together with what they mean.**  A ``replaced-by`` link is set (or pointed
  elsewhere) only when the target links back with ``replaces``, is not itself replaced, and
  nothing but Patients and Provenances still refers to the replaced one; a ``replaces`` link
  only when the other Patient says it is replaced by this one; and a replaced Patient never
  becomes unreplaced (a wrong link is corrected by merging it again, into the right Patient).
  ``Patient/$merge`` does all of it in one transaction; a client may too, in a transaction
  Bundle.
* **No writes under a replaced Patient**: a resource that refers to one is refused (422, naming
  the Patient to use), so that a patient's contract, care team, fixed care contact and access
  rules are never split again.  Provenances and AuditEvents, which record the past, may name it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fhirbridge.errors import Issue, error
from fhirbridge.fhir.jsonio import loads
from fhirbridge.patients.identity import local_patient_id, replaced_by, replaces
from fhirbridge.storage import identities, store
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

RECORDS_OF_THE_PAST = frozenset({"Patient", "Provenance", "AuditEvent"})
"""Types that may still name a replaced Patient: its successor's ``replaces`` link, and records."""
MERGE_HINT = "POST Patient/$merge (source-patient, target-patient) links two Patients and moves the records"
MOST_REFERRERS = 10_000


def where(unit: UnitOfWork, resource_type: str, resource_id: str, path: str) -> str:
    """``path`` (``Patient.link``) as it sits in the request (``Bundle.entry[2].resource.link``)."""
    prefix = unit.locations.get((resource_type, resource_id))
    return prefix + path[len(resource_type) :] if prefix else path


async def link_issues(
    unit: UnitOfWork, changes: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]]
) -> list[Issue]:
    """What is wrong with the links of the Patients a unit wrote: ``changes`` maps each id to its
    content before the unit (None: new) and after it (None: deleted)."""
    issues: list[Issue] = []
    for patient_id, (before, after) in sorted(changes.items()):
        if after is None:
            continue  # a deletion is judged by referential integrity: links keep linked Patients
        at = where(unit, "Patient", patient_id, "Patient.link")
        was = replaced_by(before, unit.local_base) if before is not None else None
        now = replaced_by(after, unit.local_base)
        if was is not None and now is None:
            issues.append(
                error(
                    "business-rule",
                    f"Patient/{patient_id} is replaced by Patient/{was} and stays replaced; a wrong link is "
                    f"corrected by merging Patient/{patient_id} into the right Patient ({MERGE_HINT})",
                    at,
                )
            )
        elif now is not None and now != was:
            issues += await _replaced_by_issues(unit, patient_id, now, at)
        old_replaces = set(replaces(before, unit.local_base)) if before is not None else set()
        new_replaces = set(replaces(after, unit.local_base))
        for other in sorted(new_replaces ^ old_replaces):
            other_record = await unit.read("Patient", other)
            other_content = loads(other_record.content) if other_record and other_record.content else {}
            says = replaced_by(other_content, unit.local_base) == patient_id
            if says != (other in new_replaces):
                state = "is not" if other in new_replaces else "is still"
                issues.append(
                    error(
                        "business-rule",
                        f"Patient/{other} {state} replaced by Patient/{patient_id}, so Patient/{patient_id}'s "
                        f"replaces links cannot say otherwise ({MERGE_HINT})",
                        at,
                    )
                )
    return issues


async def _replaced_by_issues(unit: UnitOfWork, patient_id: str, successor: str, at: str) -> list[Issue]:
    if successor == patient_id:
        return [error("business-rule", f"Patient/{patient_id} cannot replace itself", at)]
    record = await unit.read("Patient", successor)
    if record is None or record.content is None:
        return [error("not-found", f"Patient/{successor} does not exist", at)]
    target = loads(record.content)
    further = replaced_by(target, unit.local_base)
    if further is not None:
        return [
            error(
                "business-rule",
                f"Patient/{successor} is itself replaced by Patient/{further}: link to Patient/{further}",
                at,
            )
        ]
    issues = []
    if patient_id not in replaces(target, unit.local_base):
        issues.append(
            error(
                "business-rule",
                f"Patient/{patient_id} can be replaced by Patient/{successor} only when Patient/{successor} "
                f"says it replaces Patient/{patient_id} ({MERGE_HINT})",
                at,
            )
        )
    remaining = await referrers(unit, patient_id)
    if remaining:
        named = ", ".join(remaining[:10]) + (" …" if len(remaining) > 10 else "")
        issues.append(
            error(
                "business-rule",
                f"Patient/{patient_id} cannot be replaced while {len(remaining)} resource(s) still refer to it "
                f"({named}); {MERGE_HINT}",
                at,
            )
        )
    return issues


async def referrers(unit: UnitOfWork, patient_id: str) -> list[str]:
    """``Type/id`` of the live resources that refer to the Patient and would move with it."""
    found = await store.referrers(unit.conn, "Patient", patient_id, limit=MOST_REFERRERS)
    return sorted({f"{t}/{i}" for t, i, _ in found if t not in RECORDS_OF_THE_PAST})


def patient_references(node: Any, path: str, local_base: str | None) -> Iterator[tuple[str, str]]:
    """(path, Patient id) of every plain local reference to a Patient in a resource."""
    if isinstance(node, dict):
        patient_id = local_patient_id(node.get("reference"), local_base)
        if patient_id:
            yield f"{path}.reference", patient_id
        for key, child in node.items():
            if isinstance(child, dict | list):
                yield from patient_references(child, f"{path}.{key}", local_base)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from patient_references(item, f"{path}[{index}]", local_base)


async def replaced_reference_issues(unit: UnitOfWork, events: Sequence[WriteEvent]) -> list[Issue]:
    """A 422 issue for every reference a write makes to a replaced Patient.

    The referred Patients are read key-share-locked (PostgreSQL): a merge locks the Patient it
    replaces for update, so a write racing it waits, and then sees it replaced."""
    places: dict[str, list[str]] = {}
    for event in events:
        record, resource = event.record, event.resource
        if resource is None or record.resource_type in RECORDS_OF_THE_PAST:
            continue
        for path, patient_id in patient_references(resource, record.resource_type, unit.local_base):
            places.setdefault(patient_id, []).append(where(unit, record.resource_type, record.resource_id, path))
    if not places:
        return []
    contents = await identities.patient_contents(unit.conn, places, lock=unit.conn.dialect.lock_for_key_share)
    issues = []
    for patient_id, content in sorted(contents.items()):
        if b"replaced-by" not in content:  # the common case, without parsing the Patient
            continue
        successor = replaced_by(loads(content), unit.local_base)
        if successor is None:
            continue
        if not await unit.caller_may_name(successor):
            # Whom another person was merged into is theirs to know: the write is judged as if the
            # record were any other (the access policy refuses it wherever it would name the patient).
            continue
        issues += [
            error(
                "business-rule",
                f"Patient/{patient_id} is replaced by Patient/{successor} (the same person, merged): "
                f"refer to Patient/{successor}",
                place,
            )
            for place in places[patient_id]
        ]
    return issues

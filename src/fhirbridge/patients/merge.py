"""Merging two Patients of one person: the R5 ``Patient/$merge`` semantics, applied to R4.

The usual case: a patient who could not be identified was registered with a reserve number,
and is identified later as a person who already has a Patient with their personnummer.  In
one unit of work (one transaction, every write through the one write path, so validated,
access-checked, versioned, indexed and signalled like any other):

* the **source** Patient gets ``active: false`` and a ``replaced-by`` link to the target; it
  stays readable, and its earlier versions keep what it said;
* its identifiers move to the **target**, which gets a ``replaces`` link back.  A moved number
  keeps its ``use`` when it identifies the person better than any the target has (a
  personnummer before a samordningsnummer before a reserve number), otherwise it is marked
  ``old``; it no longer sits on the source, so a search by it finds one Patient;
* every live resource that refers to the source (the contract's CarePlans, CareTeams, Goals,
  Consents, Appointments, Communications, RelatedPersons …) gets a new version referring to the
  target instead, so that the contract, its fixed care contact and its access rules are one
  person's again.  Provenances and AuditEvents, records of the past, are left as they are.

The Provenance of the unit (:mod:`fhirbridge.writes.provenance`) names every version written,
with activity ``merge`` (ISO 21089 lifecycle), the source as its ``entity`` and the reason in
words (:func:`merge_provenance`).

The rules of every write still hold, and a merge that would break one is refused as a whole:
two different personnummer (or samordningsnummer) are two people; if both records have an
active fixed care contact (different people, more than the deployment allows), the fixed-contact
rule answers 409 naming both, and one assignment must be ended before the merge.

There is no unmerge.  A wrong link is corrected by a new one: merging the source again, into
the right Patient, moves what came from it (the targets of its earlier merges' Provenances that
still sit on the wrong Patient) on to the right one, takes its numbers and the ``replaces`` link
off the wrong Patient, and records a Provenance of its own.  Merging into the Patient it is
already linked to completes a link made by hand (moves what still refers to the source).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from fhirbridge.errors import FhirError, error, not_found, unprocessable
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.identity import Identity
from fhirbridge.patients.identity import RANK, REPLACED_BY, REPLACES, local_patient_id, replaced_by, replaces
from fhirbridge.patients.links import RECORDS_OF_THE_PAST, referrers
from fhirbridge.storage import store
from fhirbridge.storage.records import StoredResource
from fhirbridge.sweden.identifiers import PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM
from fhirbridge.validation.pipeline import validate_resource

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
MERGE_ACTIVITY = {"system": LIFECYCLE, "code": "merge", "display": "Merge Record Lifecycle Event"}
ONE_PER_PERSON = (PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM)
"""Systems in which a person has one number: two different values are two people."""
Resource = dict[str, Any]


@dataclass(frozen=True)
class Merged:
    """What a merge wrote: the two Patients as they are now, and the resources it moved."""

    source: StoredResource
    target: StoredResource
    moved: list[StoredResource]
    corrected: str | None
    """The Patient a wrong earlier link pointed at, when this merge corrected it."""


def merge_provenance(identity: Identity, source_id: str, target_id: str, corrected: str | None) -> Resource:
    """The Provenance template of a merge: the client's own ``X-Provenance`` (its reason and
    policy kept), with activity merge, the source as entity, and why in words."""
    template: Resource = dict(identity.claimed_provenance or {"resourceType": "Provenance"})
    why = f"Patient/{source_id} and Patient/{target_id} are the same person: merged with Patient/$merge"
    if corrected is not None:
        why = f"Patient/{source_id} was merged into Patient/{corrected} by mistake; it is Patient/{target_id}"
    template["activity"] = {"coding": [MERGE_ACTIVITY]}
    template["reason"] = [*template.get("reason", []), {"text": why}]
    template["entity"] = [{"role": "source", "what": {"reference": f"Patient/{source_id}"}}]
    return template


async def merge_patients(unit: UnitOfWork, source_id: str, target_id: str) -> Merged:
    """Merge ``Patient/source_id`` into ``Patient/target_id`` in the unit (see the module)."""
    if source_id == target_id:
        raise unprocessable("The source and the target are the same Patient", "source-patient")
    source, target = await _lock(unit, source_id, target_id)
    further = replaced_by(target, unit.local_base)
    if further is not None:
        raise unprocessable(
            f"Patient/{target_id} is itself replaced by Patient/{further}: merge into Patient/{further}",
            "target-patient",
        )
    if target.get("active") is False:
        raise unprocessable(f"Patient/{target_id} is inactive: the Patient that stays must be active", "target-patient")
    earlier = replaced_by(source, unit.local_base)
    corrected = earlier if earlier not in (None, target_id) else None
    unit.identity = replace(
        unit.identity,
        claimed_provenance=merge_provenance(unit.identity, source_id, target_id, corrected),
        operation="merge",
    )
    numbers: list[Any] = source.get("identifier", [])
    if corrected is not None:  # the source's numbers went to the wrong Patient: as they were before
        numbers = (await _before(unit, source_id, source, lambda p: replaced_by(p) is not None)).get("identifier", [])
    _refuse_two_people(numbers, target, source_id, target_id)
    moving = dict.fromkeys(_split(await referrers(unit, source_id)), source_id)
    if corrected is not None:
        await _take_back(unit, source_id, corrected, numbers)
        for key in await _came_from(unit, source_id, corrected):
            moving.setdefault(key, corrected)
    source_record = await _write(unit, "Patient", source_id, _replaced(source, target_id))
    target_record = await _write(unit, "Patient", target_id, _adopting(target, source_id, numbers))
    moved = []
    for (resource_type, resource_id), old_id in sorted(moving.items()):
        record = await unit.read(resource_type, resource_id)
        if record is None or record.deleted or record.content is None:
            continue
        resource = loads(record.content)
        if _repoint(resource, old_id, target_id, unit.local_base):
            moved.append(await _write(unit, resource_type, resource_id, resource))
    return Merged(source_record, target_record, moved, corrected)


async def _lock(unit: UnitOfWork, source_id: str, target_id: str) -> tuple[Resource, Resource]:
    """Both Patients, locked in one order: the source for update, so that writes that would
    refer to it wait for the merge (and then see it replaced), the target for an update."""
    dialect = unit.conn.dialect
    found: dict[str, Resource] = {}
    for patient_id in sorted((source_id, target_id)):
        lock = dialect.lock_for_update if patient_id == source_id else dialect.lock_for_no_key_update
        record = await store.read_current(unit.conn, "Patient", patient_id, lock=lock)
        if record is None or record.content is None:
            role = "source-patient" if patient_id == source_id else "target-patient"
            raise not_found(f"Patient/{patient_id} does not exist", role)
        found[patient_id] = loads(record.content)
    return found[source_id], found[target_id]


async def _write(unit: UnitOfWork, resource_type: str, resource_id: str, resource: Resource) -> StoredResource:
    """A new version through the one write path (validated, access-checked, indexed)."""
    validated = validate_resource(resource, resource_type, url_id=resource_id, local_base=unit.local_base)
    result = await unit.update(validated, resource_id)
    assert result.record is not None
    return result.record


def _split(references: list[str]) -> list[tuple[str, str]]:
    return [(reference.split("/", 1)[0], reference.split("/", 1)[1]) for reference in references]


def _refuse_two_people(numbers: list[Any], target: Resource, source_id: str, target_id: str) -> None:
    for system in ONE_PER_PERSON:
        ours = {str(n.get("value")) for n in numbers if isinstance(n, dict) and n.get("system") == system}
        theirs = {str(n.get("value")) for n in target.get("identifier", []) if n.get("system") == system}
        if ours and theirs and not ours & theirs:
            name = system.rsplit("/", 1)[-1]
            raise unprocessable(
                f"Patient/{source_id} and Patient/{target_id} have different {name} ({', '.join(sorted(ours))} "
                f"and {', '.join(sorted(theirs))}): they are two people and are not merged. A {name} that "
                "changed is corrected by updating the Patient",
                "source-patient",
            )


def _replaced(source: Resource, target_id: str) -> Resource:
    """The source as a replaced Patient: inactive, without its numbers, linked to the target."""
    replaced = {key: value for key, value in source.items() if key not in ("identifier", "link")}
    links = [link for link in source.get("link", []) if link.get("type") != REPLACED_BY]
    replaced["active"] = False
    replaced["link"] = [*links, {"other": {"reference": f"Patient/{target_id}"}, "type": REPLACED_BY}]
    return replaced


def _adopting(target: Resource, source_id: str, numbers: list[Any]) -> Resource:
    """The target with the source's identifiers and a ``replaces`` link to it."""
    adopted = dict(target)
    identifiers = list(target.get("identifier", []))
    have = {(n.get("system"), n.get("value")) for n in identifiers}
    best = min((_rank(n) for n in identifiers), default=len(RANK) + 1)
    for number in numbers:
        if not isinstance(number, dict) or (number.get("system"), number.get("value")) in have:
            continue
        copied = dict(number)
        if _rank(number) >= best:
            copied["use"] = "old"
        identifiers.append(copied)
        have.add((number.get("system"), number.get("value")))
    if identifiers:
        adopted["identifier"] = identifiers
    links = list(target.get("link", []))
    if not any(_points_at(link, REPLACES, source_id) for link in links):
        links.append({"other": {"reference": f"Patient/{source_id}"}, "type": REPLACES})
    adopted["link"] = links
    return adopted


def _rank(identifier: dict[str, Any]) -> int:
    return RANK.get(str(identifier.get("system")), len(RANK))


async def _take_back(unit: UnitOfWork, source_id: str, wrong_id: str, numbers: list[Any]) -> None:
    """Take the source's ``replaces`` link, and the numbers it gave, off the Patient it was
    wrongly merged into (the numbers that Patient had before the merge stay)."""
    record = await store.read_current(unit.conn, "Patient", wrong_id, lock=unit.conn.dialect.lock_for_no_key_update)
    if record is None or record.content is None:
        return
    wrong = loads(record.content)
    earlier = await _before(unit, wrong_id, wrong, lambda p: source_id in replaces(p, unit.local_base))
    own = {(n.get("system"), n.get("value")) for n in earlier.get("identifier", [])}
    given = {(n.get("system"), n.get("value")) for n in numbers if isinstance(n, dict)} - own
    kept = [n for n in wrong.get("identifier", []) if (n.get("system"), n.get("value")) not in given]
    links = [link for link in wrong.get("link", []) if not _points_at(link, REPLACES, source_id)]
    for key, value in (("identifier", kept), ("link", links)):
        wrong.pop(key, None)
        if value:
            wrong[key] = value
    await _write(unit, "Patient", wrong_id, wrong)


def _points_at(link: Any, link_type: str, patient_id: str) -> bool:
    other = (link.get("other") or {}).get("reference") if isinstance(link, dict) else None
    return isinstance(link, dict) and link.get("type") == link_type and other == f"Patient/{patient_id}"


async def _before(unit: UnitOfWork, patient_id: str, current: Resource, linked: Callable[[Resource], bool]) -> Resource:
    """The Patient as it was before the latest run of its versions for which ``linked`` holds
    (before it was replaced, before it replaced another)."""
    record = await unit.read("Patient", patient_id)
    version, patient = (record.version if record is not None else 0), current
    while version > 1 and linked(patient):
        version -= 1
        earlier = await store.read_version(unit.conn, "Patient", patient_id, version)
        patient = loads(earlier.content) if earlier is not None and earlier.content is not None else {}
    return patient


async def _came_from(unit: UnitOfWork, source_id: str, wrong_id: str) -> list[tuple[str, str]]:
    """Resources the earlier merges of the source moved, as far as they still sit on ``wrong_id``."""
    provenances = await store.live_referrers_by_param(unit.conn, "Provenance", "entity", "Patient", source_id)
    found = set()
    for provenance in provenances:
        for target in loads(provenance.content or b"{}").get("target", []):
            parsed = parse_reference(str(target.get("reference", "")), unit.local_base)
            if parsed is None or parsed.resource_type in RECORDS_OF_THE_PAST or not parsed.resource_id:
                continue
            assert parsed.resource_type is not None
            found.add((parsed.resource_type, parsed.resource_id))
    still = set(_split(await referrers(unit, wrong_id)))
    return sorted(found & still)


def _repoint(node: Any, old_id: str, new_id: str, local_base: str | None) -> bool:
    """Point every plain local reference to ``Patient/old_id`` at ``Patient/new_id``, in place."""
    changed = False
    if isinstance(node, dict):
        if local_patient_id(node.get("reference"), local_base) == old_id:
            node["reference"] = str(node["reference"])[: -len(old_id)] + new_id
            changed = True
        for child in node.values():
            changed = _repoint(child, old_id, new_id, local_base) or changed
    elif isinstance(node, list):
        for item in node:
            changed = _repoint(item, old_id, new_id, local_base) or changed
    return changed


def refusal(cause: FhirError, source_id: str, target_id: str) -> FhirError:
    """A merge that broke a rule, with a first issue saying that nothing was merged."""
    lead = error(
        "conflict" if cause.status == 409 else "business-rule",
        f"Patient/{source_id} was not merged into Patient/{target_id}: nothing was changed",
    )
    return FhirError(cause.status, [lead, *cause.issues], cause.headers)

"""What a Provenance names, read and judged once per request (R4 provenance.html: ``target``,
the versions whose history it records).

Judging a Provenance is judging the versions it names (:meth:`fhirbridge.access.policy.
AccessPolicy._sees_all`): a change feed page holds hundreds of Provenances, and each of their
targets used to be read by its own statement and judged anew for every Provenance naming it.
Here a page's targets are read in two statements (the versions named, the current versions of
those named without one), into the per-request memo the policy reads them from
(``identity.decisions["targets"]``); and a target's judgement is kept in the same request
(``identity.decisions["judged"]``), as long as nothing the policy keeps changed (a write's
checks judge on a fresh :class:`~fhirbridge.access.kept.KeptFacts` once the write wrote more).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fhirbridge.fhir.references import ParsedReference
from fhirbridge.identity import Identity
from fhirbridge.storage.database import Database
from fhirbridge.storage.records import StoredResource
from fhirbridge.storage.store import read_each, read_versions

VersionKey = tuple[str, str, int, int]


def target_key(parsed: ParsedReference) -> str:
    """The memo's key of a target: ``Type/id/version`` (``None`` when it names no version)."""
    return f"{parsed.resource_type}/{parsed.resource_id}/{parsed.version}"


def named_version(parsed: ParsedReference) -> int | None:
    """The version a target names, when it names one that can be read; None: the current one."""
    return int(parsed.version) if parsed.version and parsed.version.isdigit() else None


def targets_memo(identity: Identity) -> dict[str, StoredResource | None]:
    """The target versions read in this request, by :func:`target_key`."""
    memo: dict[str, StoredResource | None] = identity.decisions.setdefault("targets", {})
    return memo


async def read_targets_ahead(database: Database, identity: Identity, targets: Iterable[ParsedReference]) -> None:
    """Read the versions ``targets`` name (local references of a page's Provenances) that this
    request has not read yet, in at most two statements, into :func:`targets_memo`: exactly what
    one read each would have found (the named version; the current one when none is named).  A
    deleted resource named without a version is left out: its last content is read on its own
    when it is judged (rare: a history seldom names a deleted resource without a version)."""
    memo = targets_memo(identity)
    versioned: dict[str, tuple[str, str, int]] = {}
    current: dict[str, tuple[str, str]] = {}
    for parsed in targets:
        key = target_key(parsed)
        if key in memo or parsed.resource_type is None or parsed.resource_id is None:
            continue
        version = named_version(parsed)
        if version is not None:
            versioned[key] = (parsed.resource_type, parsed.resource_id, version)
        else:
            current[key] = (parsed.resource_type, parsed.resource_id)
    if not versioned and not current:
        return
    async with database.reader() as conn:
        found_versions = await read_versions(conn, versioned.values()) if versioned else {}
        found_current = await read_each(conn, current.values()) if current else {}
    for key, wanted in versioned.items():
        memo[key] = found_versions.get(wanted)
    for key, pair in current.items():
        stored = found_current.get(pair)
        if stored is not None and stored.content is None and stored.version > 1:
            continue  # deleted: its last content is read when it is judged
        memo[key] = stored


def version_key(record: StoredResource) -> VersionKey:
    """A stored version's identity: type, id, version and time (a rolled-back version written
    again has another time)."""
    return (record.resource_type, record.resource_id, record.version, record.last_updated)


def judged_memo(identity: Identity, kept: object) -> dict[VersionKey, object]:
    """How each version judged in this request was judged (the access, None, or the refusal),
    kept while the policy's kept facts are ``kept`` (a write that wrote more judges afresh)."""
    held: tuple[object, dict[VersionKey, object]] | None = identity.decisions.get("judged")
    if held is None or held[0] is not kept:
        held = identity.decisions["judged"] = (kept, {})
    return held[1]


def local_targets(resource: dict[str, Any], local: Callable[[Any], ParsedReference | None]) -> list[ParsedReference]:
    """The local references among a Provenance's targets."""
    targets = resource.get("target")
    found = [local(target) for target in targets] if isinstance(targets, list) else []
    return [parsed for parsed in found if parsed is not None]

"""``fhirbridge db check`` and ``fhirbridge db repair`` for references (issue 11).

The write path stores every reference that names a patient as a literal ``Patient/[id]``
(:mod:`fhirbridge.writes.references`).  Data written before that rule, or around it, may name
a patient in a form the access policy cannot place: such a resource is hidden from everyone but
the region's own services (:mod:`fhirbridge.access.compartment`).  :func:`find` walks every
live resource, a page at a time, and reports those; :func:`repair` writes each again through
the one write path as the server itself, which resolves what can be resolved (a new version,
with its Provenance) and refuses the rest with the reason, for a person to look at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.access.compartment import SERVER_WRITTEN, UNKNOWN_PATIENT, named_patients
from fhirbridge.access.guarded import GuardedRepository
from fhirbridge.errors import FhirError
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.identity import SYSTEM
from fhirbridge.patients.link_elements import SUBJECT_LINKS, is_network_link
from fhirbridge.storage import store
from fhirbridge.validation.json_form import check_json_form
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.references import is_patient_link, local_form, node_at, unversioned_form
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult

PAGE = 500


@dataclass(frozen=True)
class Finding:
    """A stored resource whose references the write path would not accept as they are."""

    reference: str
    problems: tuple[str, ...]


@dataclass
class RepairReport:
    repaired: list[str] = field(default_factory=list)
    left: list[tuple[Finding, str]] = field(default_factory=list)
    """What could not be repaired, and why."""


def problems_of(resource_type: str, resource: dict[str, Any], bases: tuple[str, ...]) -> list[str]:
    """What the write path would change or refuse in one stored resource's references."""
    problems = [
        f"{resource_type}.contained[{index}] is a contained Patient"
        for index, item in enumerate(resource.get("contained") or [])
        if isinstance(item, dict) and item.get("resourceType") == "Patient"
    ]
    contained = resource.get("contained")
    inside = frozenset(
        str(c.get("id")) for c in (contained if isinstance(contained, list) else []) if isinstance(c, dict)
    )
    for site in check_json_form(resource).sites:
        node = node_at(resource, site.path)
        if not isinstance(node, dict):
            continue
        text = node.get("reference")
        linked = is_patient_link(site.element) or is_network_link(site.element)
        if isinstance(text, str) and local_form(text, bases) is not None:
            problems.append(f"{site.path}: {text} is this server by an absolute URL")
        elif isinstance(text, str) and linked and site.element != "Provenance.target" and unversioned_form(text):
            problems.append(f"{site.path}: {text} names a version, not the resource")
        elif site.element == "Provenance.target" and not _literal(text):
            problems.append(f"{site.path}: names what it is the history of {_shown(node)}, not as [type]/[id]")
        elif (
            resource_type not in SERVER_WRITTEN
            and is_patient_link(site.element)
            and UNKNOWN_PATIENT in named_patients(node, subject=site.element in SUBJECT_LINKS, contained=inside)
        ):
            problems.append(f"{site.path}: names its patient {_shown(node)}, not as Patient/[id]")
    return problems


async def find(
    repository: GuardedRepository, bases: tuple[str, ...], progress: Callable[[int], object] | None = None
) -> AsyncIterator[Finding]:
    """Every live resource with :func:`problems_of`, read a page at a time (bounded memory)."""
    after = 0
    while True:
        async with repository.database.reader(heavy=True) as conn:
            page = await store.live_after(conn, after, PAGE)
        if not page:
            return
        for record in page:
            problems = problems_of(record.resource_type, loads(record.content or b"{}"), bases)
            if problems:
                yield Finding(f"{record.resource_type}/{record.resource_id}", tuple(problems))
        after = page[-1].pk or after
        if progress is not None:
            progress(len(page))


async def count(repository: GuardedRepository) -> int:
    async with repository.database.reader(heavy=True) as conn:
        return await store.count_live(conn)


async def repair(repository: GuardedRepository, base: str | None, findings: list[Finding]) -> RepairReport:
    """Write each found resource again through the write path, as the server."""
    report = RepairReport()
    for finding in findings:
        resource_type, _, resource_id = finding.reference.partition("/")

        async def rewrite(
            unit: UnitOfWork, resource_type: str = resource_type, resource_id: str = resource_id
        ) -> WriteResult:
            current = await unit.read(resource_type, resource_id)
            if current is None or current.deleted or current.content is None:
                return WriteResult("absent", current)
            validated = validate_resource(loads(current.content), resource_type, url_id=resource_id, local_base=base)
            return await unit.update(validated, resource_id, if_match=current.version)

        try:
            await repository.write(SYSTEM, base, rewrite)
        except FhirError as refusal:
            report.left.append(
                (finding, "; ".join(f"{i.diagnostics} ({', '.join(i.expression)})" for i in refusal.issues))
            )
            continue
        report.repaired.append(finding.reference)
    return report


def _literal(text: Any) -> bool:
    parsed = parse_reference(text) if isinstance(text, str) else None
    return parsed is not None and parsed.kind in ("local", "contained")


def _shown(node: dict[str, Any]) -> str:
    if isinstance(node.get("reference"), str):
        return f"as {node['reference']}"
    identifier = node.get("identifier")
    if isinstance(identifier, dict):
        return f"by identifier {identifier.get('system', '')}|{identifier.get('value', '')}"
    return "by a display text only"

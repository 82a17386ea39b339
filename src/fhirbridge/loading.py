"""Bulk loading of resources (``fhirbridge load`` and ``fhirbridge demo``).

Each resource goes through the same validation and write path as the REST API.  A resource
with an id is written as an update (so loading twice changes nothing); one without is
created.  Resources are written in batches, one transaction each; a batch with a rejected
resource is retried one by one, and resources that refer to something not loaded yet are
retried after the others, so files need not be in dependency order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fhirbridge.access.guarded import GuardedRepository
from fhirbridge.errors import FhirError, error
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.identity import SYSTEM, Identity
from fhirbridge.validation.pipeline import ValidatedResource, validate_resource
from fhirbridge.writes.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Version:
    """An earlier state of a resource, loaded as its history: the content, when it was written
    (µs since the epoch) and who wrote it (a Provenance without target, as ``X-Provenance``)."""

    at: int
    provenance: dict[str, Any]
    resource: dict[str, Any]


@dataclass(frozen=True)
class SourcedResource:
    """A resource and where it came from (``file:line`` or ``file#entry``).  ``history``: its
    versions up to and including this one, written in order, each dated and with its own
    Provenance, when the resource does not exist yet (so loading twice changes nothing)."""

    origin: str
    resource: Any
    history: tuple[Version, ...] = ()


@dataclass
class Rejection:
    origin: str
    summary: str
    problems: list[str]


@dataclass
class LoadReport:
    written: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True)
class NotAResource:
    """What stood where a resource should be and is none, and why: not JSON, or a Bundle entry
    without a resource (:mod:`fhirbridge.load_files`)."""

    reason: str


Validated = tuple[SourcedResource, ValidatedResource]
Deferred = tuple[SourcedResource, ValidatedResource, FhirError]


def _describe(item: SourcedResource) -> str:
    resource = item.resource
    if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
        return f"{resource['resourceType']}/{resource.get('id', '(new)')}"
    return "(not a resource)"


def _validate(item: SourcedResource, local_base: str | None) -> ValidatedResource:
    """The item validated as the REST API validates a body; first, plainly, what makes it no
    FHIR resource at all (R4 json.html: an object whose ``resourceType`` names its type)."""
    resource = item.resource
    if isinstance(resource, NotAResource):
        raise FhirError(400, [error("structure", resource.reason)])
    if not isinstance(resource, dict):
        raise _not_a_resource(f"not a JSON object but {_kind(resource)}: a resource is an object")
    resource_type = resource.get("resourceType")
    if resource_type is None:
        raise _not_a_resource("no resourceType: a resource names its type")
    if resource_type not in STORED_TYPES:
        raise _not_a_resource(
            f"unknown resourceType {_shown(resource_type)}: this server stores {', '.join(STORED_TYPES)}"
        )
    return validate_resource(dict(resource), resource_type, url_id=resource.get("id"), local_base=local_base)


def _not_a_resource(diagnostics: str) -> FhirError:
    return FhirError(400, [error("structure", diagnostics)])


_JSON_KINDS = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}


def _kind(value: object) -> str:
    return _JSON_KINDS.get(type(value), "a number")


def _shown(value: object) -> str:
    """A value as a person reads it in a message (a string quoted), cut short."""
    if isinstance(value, str):
        return repr(value if len(value) <= 64 else value[:64] + "…")
    return repr(value)[:64]


async def _write(unit: UnitOfWork, validated: ValidatedResource) -> str:
    resource_id = validated.resource.get("id")
    if resource_id is None:
        return (await unit.create(validated)).outcome
    return (await unit.update(validated, resource_id)).outcome


class Loader:
    """Writes resources through the repository, counting and explaining what it refused."""

    def __init__(
        self,
        repository: GuardedRepository,
        *,
        identity: Identity = SYSTEM,
        batch_size: int = 100,
        local_base: str | None = None,
    ) -> None:
        self.repository = repository
        self.identity = identity
        self.batch_size = batch_size
        self.local_base = local_base
        self.report = LoadReport()

    async def load(self, items: Iterable[SourcedResource], progress: Any = None) -> LoadReport:
        """Write every item; ``progress`` (a tqdm bar) advances once per item."""
        deferred: list[Deferred] = []
        batch: list[Validated] = []
        for item in items:
            if item.history:  # what it refers to is written first
                deferred += await self._flush(batch, progress)
                batch = []
                if await self._write_history(item):
                    if progress is not None:
                        progress.update(1)
                    continue
            try:
                batch.append((item, _validate(item, self.local_base)))
            except FhirError as refusal:
                self._reject(item, refusal)
                if progress is not None:
                    progress.update(1)
            if len(batch) >= self.batch_size:
                deferred += await self._flush(batch, progress)
                batch = []
        deferred += await self._flush(batch, progress)
        # What referred to something loaded later gets further passes while they make progress.
        while deferred:
            retry, deferred = deferred, []
            for item, validated, _ in retry:
                deferred += await self._single(item, validated)
            if len(deferred) == len(retry):
                for item, _, last_refusal in deferred:
                    self._reject(item, last_refusal)
                break
        return self.report

    async def _flush(self, batch: list[Validated], progress: Any) -> list[Deferred]:
        if not batch:
            return []
        deferred: list[Deferred] = []
        try:
            outcomes = await self.repository.write(self.identity, self.local_base, lambda unit: _write_all(unit, batch))
            self._count(outcomes)
        except FhirError:
            for item, validated in batch:
                deferred += await self._single(item, validated)
        if progress is not None:
            progress.update(len(batch))
        return deferred

    async def _single(self, item: SourcedResource, validated: ValidatedResource) -> list[Deferred]:
        try:
            outcome = await self.repository.write(self.identity, self.local_base, lambda unit: _write(unit, validated))
        except FhirError as refusal:
            if refusal.status == 422 and all(issue.code == "not-found" for issue in refusal.issues):
                return [(item, validated, refusal)]
            self._reject(item, refusal)
            return []
        self._count([outcome])
        return []

    async def _write_history(self, item: SourcedResource) -> bool:
        """Write ``item``'s versions in order, each dated and attributed, when the resource does
        not exist yet; False when it does (then it is loaded as any other item)."""
        resource = item.resource if isinstance(item.resource, dict) else {}
        resource_type, resource_id = str(resource.get("resourceType")), resource.get("id")
        if not isinstance(resource_id, str) or await self.repository.read(self.identity, resource_type, resource_id):
            return False
        for number, version in enumerate(item.history, 1):
            source = SourcedResource(f"{item.origin} (version {number})", version.resource)
            try:
                validated = _validate(source, self.local_base)
                writer = dataclasses.replace(self.identity, claimed_provenance=version.provenance)
                outcome = await self.repository.write(writer, self.local_base, _writer_of(validated), at=version.at)
            except FhirError as refusal:
                self._reject(source, refusal)
                return True
            self._count([outcome])
        return True

    def _count(self, outcomes: list[str]) -> None:
        for outcome in outcomes:
            if outcome == "unchanged":
                self.report.unchanged += 1
            else:
                self.report.written += 1

    def _reject(self, item: SourcedResource, refusal: FhirError) -> None:
        problems = [
            issue.diagnostics + (f" (at {', '.join(issue.expression)})" if issue.expression else "")
            for issue in refusal.issues
        ]
        self.report.rejected.append(Rejection(item.origin, _describe(item), problems))


def _writer_of(validated: ValidatedResource) -> Callable[[UnitOfWork], Awaitable[str]]:
    return lambda unit: _write(unit, validated)


async def _write_all(unit: UnitOfWork, batch: list[tuple[SourcedResource, ValidatedResource]]) -> list[str]:
    return [await _write(unit, validated) for _, validated in batch]

"""``$meta`` (R4 resource-operation-meta.html, OperationDefinition ``Resource-meta``): the
profiles, tags and security labels of one resource (``[base]/[type]/[id]/$meta``), or in use
on a type (``[base]/[type]/$meta``) or on the whole server (``[base]/$meta``).

At instance level the resource is read as a read reads it.  At type and system level the
answer is "a union of all the profiles, tags and security labels in use" (R4): gathered from
the search index (:mod:`fhirbridge.storage.labels`) rather than by loading every resource, and
each label kept only when a resource carrying it is one the caller may see
(:meth:`~fhirbridge.access.guarded.GuardedRepository.labelled`): to a patient's token a label
such as a ``psychiatry`` tag on another patient's plan would itself tell of that plan.
``$meta-add`` and ``$meta-delete`` (:mod:`fhirbridge.rest.operations.meta_change`) change the
labels through the one write path, as a new version.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import FhirError
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.interactions.read import live_version
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.search.normalize import indexed
from fhirbridge.storage.labels import IndexedLabel
from fhirbridge.storage.records import StoredResource

NAME = "meta"
DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-meta"
_LABELS = ("profile", "security", "tag")


def _answer(meta: dict[str, Any]) -> FhirResponse:
    return FhirResponse(
        200, resource={"resourceType": "Parameters", "parameter": [{"name": "return", "valueMeta": meta}]}
    )


async def meta(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """A Parameters whose ``return`` is the resource's Meta, less what the server sets
    (``versionId``, ``lastUpdated``): the labels a client may set (R4 resource.html#Meta)."""
    record = await live_version(ctx, request)
    return _answer(labels_of(record))


async def meta_type(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """``[base]/[type]/$meta``: the labels in use on the type's live resources, as far as the
    caller may see them (the token's scopes must allow searching the type: 403 otherwise)."""
    resource_type = request.type_name()
    ctx.repository.policy.require_scope(request.identity, resource_type, "s")
    return _answer(await labels_in_use(ctx, request, [resource_type]))


async def meta_system(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """``[base]/$meta``: the labels in use on every type the caller's scopes let them search."""
    types = []
    for resource_type in STORED_TYPES:
        try:
            ctx.repository.policy.require_scope(request.identity, resource_type, "s")
        except FhirError:
            continue
        types.append(resource_type)
    return _answer(await labels_in_use(ctx, request, types))


async def labels_in_use(ctx: ServiceContext, request: FhirRequest, resource_types: list[str]) -> dict[str, Any]:
    """The union of the labels, each as the first resource carrying it that the caller may see
    shows it (its ``display`` and ``version`` too), in the index's order."""
    union: dict[str, dict[tuple[Any, ...], Any]] = {key: {} for key in _LABELS}
    for label, witness in await ctx.repository.labelled(request.identity, resource_types, request.base_url):
        key = label.param[1:]
        for item in labels_of(witness).get(key, []):
            if _is(label, item):
                union[key].setdefault(_identity(item), item)
    return {key: list(found.values()) for key, found in union.items() if found}


def _is(label: IndexedLabel, item: Any) -> bool:
    """Whether a profile or Coding of the witness is the indexed label (the index keeps a prefix)."""
    if label.param == "_profile":
        return isinstance(item, str) and indexed(item) == label.code
    return (
        isinstance(item, dict)
        and indexed(item.get("system")) == label.system
        and indexed(item.get("code")) == label.code
    )


def _identity(item: Any) -> tuple[Any, ...]:
    return (item,) if isinstance(item, str) else (item.get("system"), item.get("code"))


def labels_of(record: StoredResource) -> dict[str, Any]:
    """The profiles, security labels and tags of a stored version's Meta."""
    stored = loads(record.content or b"{}").get("meta") or {}
    return {key: stored[key] for key in _LABELS if stored.get(key)}

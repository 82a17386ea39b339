"""patch and conditional patch with JSON Patch (R4 http.html#patch; RFC 6902) or FHIRPath Patch
(R4 fhirpatch.html: a Parameters resource, in FHIR JSON or FHIR XML).

The server applies the patch to its own copy of the current version and then "processes the
resulting document as an Update operation; all the version and error handling etc. apply"
(R4 http.html#patch): the same unit of work as a PUT, inside one transaction, so every rule,
profile, event, Provenance and the access log are a PUT's.  The version patched is locked
until the update is written, so two concurrent patches never lose one another's change, and
``If-Match`` makes a patch version-specific (412 on a mismatch, R4 http.html#concurrency).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirbridge.errors import bad_request, not_found, precondition_failed
from fhirbridge.fhir.fhirpath_patch import Operation, apply_fhirpath_patch, read_fhirpath_patch
from fhirbridge.fhir.json_patch import MEDIA_TYPE, apply_patch, read_patch
from fhirbridge.fhir.jsonio import loads
from fhirbridge.rest.interactions.common import require_writable_id
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.interactions.update import respond
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult


@dataclass(frozen=True)
class Patch:
    """A patch document: a JSON Patch's operations, or a FHIRPath Patch's."""

    json_patch: list[dict[str, Any]] | None = None
    fhirpath: list[Operation] | None = None

    def apply(self, resource: dict[str, Any], *, max_bytes: int, max_depth: int) -> Any:
        if self.fhirpath is not None:
            return apply_fhirpath_patch(self.fhirpath, resource, max_bytes=max_bytes, max_depth=max_depth)
        return apply_patch(self.json_patch or [], resource, max_bytes=max_bytes, max_depth=max_depth)


def read_any_patch(document: Any, content_type: str | None) -> Patch:
    """The patch a body holds: a JSON Patch (``application/json-patch+json``, or an array when no
    media type says) or a FHIRPath Patch (a Parameters resource, read from FHIR JSON or XML)."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type == MEDIA_TYPE or (not media_type and isinstance(document, list)):
        return Patch(json_patch=read_patch(document))
    return Patch(fhirpath=read_fhirpath_patch(document))


async def patch_in(
    unit: UnitOfWork,
    resource_type: str,
    resource_id: str,
    operations: Patch,
    *,
    if_match: int | None,
    local_base: str | None,
    limits: tuple[int, int],
) -> WriteResult:
    """Apply a read patch to the current version and write the result as an update (the
    one path a single request and a transaction entry share).  ``limits``: the most bytes and
    levels the patched resource may have, as a PUT's body may."""
    current = await unit.patch_base(resource_type, resource_id)
    if if_match is not None and current.version != if_match:
        raise precondition_failed(
            f"If-Match asked for version {if_match} of {resource_type}/{resource_id}, but it has version "
            f"{current.version}"
        )
    assert current.content is not None
    max_bytes, max_depth = limits
    patched = operations.apply(loads(current.content), max_bytes=max_bytes, max_depth=max_depth)
    validated = validate_resource(patched, resource_type, url_id=resource_id, local_base=local_base)
    return await unit.update(validated, resource_id, if_match=if_match, method="PATCH")


async def patch(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """PATCH [type]/[id] with a JSON Patch or FHIRPath Patch document (R4 http.html#patch)."""
    resource_type, resource_id = request.address()
    if request.criteria():
        raise bad_request("PATCH to [type]/[id] takes no search parameters", "url")
    require_writable_id(resource_type, resource_id)
    operations = read_any_patch(request.json_body(), request.headers.get("content-type"))
    if_match = request.if_match()

    async def work(unit: UnitOfWork) -> WriteResult:
        return await patch_in(
            unit,
            resource_type,
            resource_id,
            operations,
            if_match=if_match,
            local_base=request.base_url,
            limits=_limits(ctx, request),
        )

    return respond(request, await ctx.repository.write(request.identity, request.base_url, work))


async def conditional_patch(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """PATCH [type]?criteria, processed like a conditional update (R4 http.html#patch): one
    match is patched, several are 412, and none is 404 (a patch has nothing to create from)."""
    resource_type = request.type_name()
    criteria = request.criteria()
    if not criteria:
        raise bad_request("A conditional patch needs search criteria: PATCH [type]?identifier=system|value", "url")
    operations = read_any_patch(request.json_body(), request.headers.get("content-type"))
    if_match = request.if_match()

    async def work(unit: UnitOfWork) -> WriteResult:
        found = await unit.find_one(
            resource_type,
            criteria,
            several=f"The criteria match several {resource_type} resources; make them more selective",
        )
        if found is None:
            raise not_found(f"No {resource_type} matches the criteria: there is nothing to patch", "url")
        return await patch_in(
            unit,
            resource_type,
            found,
            operations,
            if_match=if_match,
            local_base=request.base_url,
            limits=_limits(ctx, request),
        )

    return respond(request, await ctx.repository.write(request.identity, request.base_url, work))


def _limits(ctx: ServiceContext, request: FhirRequest) -> tuple[int, int]:
    """What a PUT's body is held to (size, nesting), which the patched resource is held to too."""
    return ctx.settings.max_body_bytes, request.max_json_depth

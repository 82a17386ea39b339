"""``[base]/[type]/[id]/$meta``: the profiles, tags and security labels of one resource (R4
resource-operation-meta.html, OperationDefinition ``Resource-meta``), read as a read reads it.

Only the instance level is served: at type and system level the operation lists every label
in use, which for a restricted caller would have to be gathered from what they may see alone.
``$meta-add`` and ``$meta-delete`` (:mod:`fhirbridge.rest.operations.meta_change`) change the
labels through the one write path, as a new version.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.fhir.jsonio import loads
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.interactions.read import live_version
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.storage.records import StoredResource

NAME = "meta"
DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-meta"
_LABELS = ("profile", "security", "tag")


async def meta(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """A Parameters whose ``return`` is the resource's Meta, less what the server sets
    (``versionId``, ``lastUpdated``): the labels a client may set (R4 resource.html#Meta)."""
    record = await live_version(ctx, request)
    return FhirResponse(
        200, resource={"resourceType": "Parameters", "parameter": [{"name": "return", "valueMeta": labels_of(record)}]}
    )


def labels_of(record: StoredResource) -> dict[str, Any]:
    """The profiles, security labels and tags of a stored version's Meta."""
    stored = loads(record.content or b"{}").get("meta") or {}
    return {key: stored[key] for key in _LABELS if stored.get(key)}

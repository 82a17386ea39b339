"""``[base]/[type]/[id]/$meta``: the profiles, tags and security labels of one resource (R4
resource-operation-meta.html, OperationDefinition ``Resource-meta``), read as a read reads it.

Only the instance level is served: at type and system level the operation lists every label
in use, which for a restricted caller would have to be gathered from what they may see alone.
``$meta-add`` and ``$meta-delete`` are not served: R4 has them change the labels of the stored
version in place, without a new version ("executing this operation does not cause a new
version of the resource to be created", resource-operation-meta-add.html), which the one
write path, where every change is a version, does not do.
"""

from __future__ import annotations

from fhirbridge.fhir.jsonio import loads
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.interactions.read import live_version
from fhirbridge.rest.messages import FhirRequest, FhirResponse

NAME = "meta"
DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-meta"
_LABELS = ("profile", "security", "tag")


async def meta(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """A Parameters whose ``return`` is the resource's Meta, less what the server sets
    (``versionId``, ``lastUpdated``): the labels a client may set (R4 resource.html#Meta)."""
    record = await live_version(ctx, request)
    stored = loads(record.content or b"{}").get("meta") or {}
    labels = {key: stored[key] for key in _LABELS if stored.get(key)}
    return FhirResponse(
        200, resource={"resourceType": "Parameters", "parameter": [{"name": "return", "valueMeta": labels}]}
    )

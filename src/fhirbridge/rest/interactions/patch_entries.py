"""The patch a batch or transaction entry carries (R4 http.html#transaction and http.html#patch:
"the resource in the entry is a Binary resource containing the patch", or a Parameters resource
carrying a FHIRPath Patch, R4 fhirpatch.html).

A Binary whose ``contentType`` is ``application/json-patch+json`` holds a JSON Patch (RFC 6902)
base64-encoded in ``data``; a Parameters is a FHIRPath Patch.  Either is read here, before the
transaction takes its write lock, so a malformed patch is a 400 naming the entry and nothing
is written.  What the patch then does is the instance PATCH's
(:func:`fhirbridge.rest.interactions.patch.patch_in`): the same unit of work, rules, ``ifMatch``
and access checks.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any

import orjson

from fhirbridge.errors import FhirError, bad_request, error
from fhirbridge.fhir.fhirpath_patch import read_fhirpath_patch
from fhirbridge.fhir.json_patch import MEDIA_TYPE, read_patch
from fhirbridge.fhir.jsonio import loads_limited
from fhirbridge.rest.interactions.patch import Patch


def entry_patch(resource: Any, max_depth: int) -> Patch:
    """The patch an entry's resource carries; 400 naming the element for what is not a patch,
    415 for a patch format this server does not apply."""
    if not isinstance(resource, dict):
        raise bad_request(
            "A PATCH entry needs a resource: a Binary holding a JSON Patch, or a Parameters (FHIRPath Patch)",
            "resource",
            code="required",
        )
    kind = resource.get("resourceType")
    if kind == "Parameters":
        return Patch(fhirpath=read_fhirpath_patch(resource))
    if kind != "Binary":
        raise bad_request(
            f"A PATCH entry's resource is a Binary holding a JSON Patch or a Parameters, not {kind!r}", "resource"
        )
    content_type = str(resource.get("contentType") or "").partition(";")[0].strip().lower()
    if content_type != MEDIA_TYPE:
        raise _unsupported(
            f"Binary.contentType {content_type or 'none'} is not a patch this server applies: use {MEDIA_TYPE}",
            "Binary.contentType",
        )
    data = resource.get("data")
    if not isinstance(data, str) or not data:
        raise bad_request("The Binary holds no patch: Binary.data is the base64 JSON Patch", "Binary.data")
    try:
        document = loads_limited(base64.b64decode(data, validate=True), max_depth, "The JSON Patch")
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad_request("Binary.data is not base64-encoded JSON", "Binary.data") from None
    try:
        return Patch(json_patch=read_patch(document))
    except FhirError as exc:
        issues = [
            dataclasses.replace(i, expression=tuple(f"Binary.data.{e}" for e in i.expression)) for i in exc.issues
        ]
        raise FhirError(exc.status, issues) from None


def _unsupported(diagnostics: str, expression: str) -> FhirError:
    """415: a patch format this server does not apply (RFC 5789 §2.2), naming the element."""
    return FhirError(415, [error("not-supported", diagnostics, expression)])

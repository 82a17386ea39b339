"""``[base]/[type]/[id]/$meta-add`` and ``$meta-delete``: add or remove profiles, tags and
security labels of one resource (R4 resource-operation-meta-add.html,
resource-operation-meta-delete.html), a Parameters ``meta`` (valueMeta) in, a Parameters
``return`` out.

**A change of labels is a new version here**, where R4 says "executing this operation does not
cause a new version of the resource to be created".  We chose the version because every change
this server makes goes through the one write path (:mod:`fhirbridge.writes`): the access
policy's checks of the caller's right to write the resource, the contract rules, the
Provenance, the history, subscription events and the access log, all in one transaction.  A
label changed in place would change what a version says after it was read, signed and cached:
a ``NOPATIENT`` security label decides whether the patient may read a plan (:mod:`fhirbridge.
access.policy` keeps that per version), and a Subscription on ``_security`` would never hear of
it.  As the write is an update, ``If-Match`` applies (412 on a stale version), adding what is
there already or deleting what is not keeps the version (R4 http.html#update: no change), and
history shows the change as a ``PATCH``.

Who may: whoever may update the resource (a patient may change none of the labels that keep
something from them: what is hidden from them does not exist for them, a 404).  Codings match
by ``system`` and ``code`` (``version`` and ``display`` are not compared), profiles by URL.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import bad_request
from fhirbridge.fhir.jsonio import loads
from fhirbridge.rest.interactions.common import require_writable_id, version_headers
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.rest.operations.meta import labels_of
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult

ADD = "meta-add"
DELETE = "meta-delete"
ADD_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-meta-add"
DELETE_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-meta-delete"
_CODINGS = ("security", "tag")
_WHERE = "Parameters.parameter[0].valueMeta"


def _asked(request: FhirRequest) -> dict[str, Any]:
    """The ``meta`` parameter's Meta: profiles, security labels and tags only."""
    body: Any = request.json_body()
    parameters = body.get("parameter") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters" or not isinstance(parameters, list):
        raise bad_request("The body is a Parameters resource with one parameter 'meta' (valueMeta)", "Parameters")
    if len(parameters) != 1 or not isinstance(parameters[0], dict) or parameters[0].get("name") != "meta":
        raise bad_request("Parameters holds exactly one parameter, named 'meta'", "Parameters.parameter")
    meta = parameters[0].get("valueMeta")
    if not isinstance(meta, dict):
        raise bad_request("The 'meta' parameter has a valueMeta", _WHERE)
    for key, value in meta.items():
        if key not in ("profile", *_CODINGS):
            raise bad_request(f"Only profile, security and tag can be changed by this operation, not {key}", _WHERE)
        if not isinstance(value, list) or not value:
            raise bad_request(f"{key} is a non-empty list", f"{_WHERE}.{key}")
        for index, item in enumerate(value):
            good = isinstance(item, str) if key == "profile" else _coding(item)
            if not good:
                shape = "a canonical URL" if key == "profile" else "a Coding with a system and a code"
                raise bad_request(f"Each {key} is {shape}", f"{_WHERE}.{key}[{index}]")
    return meta


def _coding(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("system"), str) and isinstance(item.get("code"), str)


def _key(item: Any) -> Any:
    return item if isinstance(item, str) else (item.get("system"), item.get("code"))


def changed(stored_meta: dict[str, Any], asked: dict[str, Any], *, add: bool) -> dict[str, Any]:
    """The resource's Meta with ``asked``'s profiles and codings added (each once) or removed."""
    meta = dict(stored_meta)
    for key, items in asked.items():
        present = list(meta.get(key) or [])
        keys = {_key(item) for item in present}
        if add:
            for item in items:
                if _key(item) not in keys:
                    present.append(item)
                    keys.add(_key(item))
        else:
            gone = {_key(item) for item in items}
            present = [item for item in present if _key(item) not in gone]
        if present:
            meta[key] = present
        else:
            meta.pop(key, None)
    return meta


async def meta_add(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """POST [type]/[id]/$meta-add (R4 resource-operation-meta-add.html)."""
    return await _change(ctx, request, add=True)


async def meta_delete(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """POST [type]/[id]/$meta-delete (R4 resource-operation-meta-delete.html)."""
    return await _change(ctx, request, add=False)


async def _change(ctx: ServiceContext, request: FhirRequest, *, add: bool) -> FhirResponse:
    resource_type, resource_id = request.address()
    require_writable_id(resource_type, resource_id)
    asked = _asked(request)
    if_match = request.if_match()

    async def work(unit: UnitOfWork) -> WriteResult:
        current = await unit.patch_base(resource_type, resource_id)  # locked, judged as the caller's update
        assert current.content is not None
        resource = dict(loads(current.content))
        meta = changed(resource.get("meta") or {}, asked, add=add)
        if meta:
            resource["meta"] = meta
        else:
            resource.pop("meta", None)
        validated = validate_resource(resource, resource_type, url_id=resource_id, local_base=request.base_url)
        return await unit.update(validated, resource_id, if_match=if_match, method="PATCH")

    result = await ctx.repository.write(request.identity, request.base_url, work)
    assert result.record is not None
    returned = {"resourceType": "Parameters", "parameter": [{"name": "return", "valueMeta": labels_of(result.record)}]}
    return FhirResponse(200, resource=returned, headers=version_headers(result.record))

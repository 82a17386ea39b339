"""``$validate`` (R4 resource-operation-validate.html): would this resource be accepted?

* ``POST [base]/{type}/$validate`` and ``POST [base]/{type}/{id}/$validate`` with a resource,
  or a Parameters resource holding ``resource``, ``profile`` and ``mode``;
* ``GET [base]/{type}/{id}/$validate`` validates the stored resource;
* ``profile`` and ``mode`` may also be URL parameters.

It is a dry run of the real write: the resource's own checks (JSON form, bindings, reference
types, structure, Swedish identifiers, the applicable profiles and a requested one), then the
write itself in its own transaction (the reference rule, the access policy, the contract rules:
the patient's goal, one fixed care contact, one Patient per person; referential integrity),
rolled back at the end, so it answers what a create or update would answer and writes nothing.
It answers 200 with an OperationOutcome: its errors,
its warnings (extensible bindings, unknown profiles), or one informational issue when all is
well.  ``mode=create`` ignores the id, ``update`` requires the URL's, ``delete`` reports
whether resources still refer to the one named.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.conformance.validator import validate_profiles
from fhirbridge.errors import FhirError, Issue, bad_request, error, not_found
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.outcome import operation_outcome
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.validation.pipeline import validate_resource
from fhirbridge.writes.unit_of_work import UnitOfWork, WriteResult

NAME = "validate"
DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
MODES = ("create", "update", "delete")


async def validate(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    resource_type = request.type_name()
    resource, profile, mode = await _arguments(ctx, request, resource_type)
    if mode == "delete":
        issues = await _delete_issues(ctx, request, resource_type)
    else:
        issues = await _write_issues(ctx, request, resource_type, resource, profile, mode)
    if not any(issue.severity in ("error", "fatal") for issue in issues):
        issues.append(Issue("information", "informational", f"The {resource_type} is valid"))
    return FhirResponse(200, resource=operation_outcome(issues))


async def _arguments(
    ctx: ServiceContext, request: FhirRequest, resource_type: str
) -> tuple[dict[str, Any] | None, str | None, str]:
    profile, mode = request.query_value("profile"), request.query_value("mode")
    resource: Any = None
    if request.body:
        body = request.json_body()
        if isinstance(body, dict) and body.get("resourceType") == "Parameters":
            parameters = body.get("parameter", [])
            if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
                raise bad_request("Parameters.parameter is a list of parameters", "Parameters.parameter")
            for index, parameter in enumerate(parameters):
                name = parameter.get("name")
                if name == "resource":
                    resource = parameter.get("resource")
                elif name == "profile":
                    profile = parameter.get("valueUri") or parameter.get("valueCanonical")
                elif name == "mode":
                    mode = parameter.get("valueCode")
                for value, what in ((profile, "profile"), (mode, "mode")):
                    if value is not None and not isinstance(value, str):
                        raise bad_request(f"{what} is a string", f"Parameters.parameter[{index}]")
        else:
            resource = body
    elif request.resource_id is not None:
        stored = await ctx.repository.read(request.identity, resource_type, request.resource_id)
        if stored is None or stored.content is None:
            raise not_found(f"{resource_type}/{request.resource_id} does not exist")
        resource = loads(stored.content)
    mode = mode or ("update" if request.resource_id else "create")
    if mode not in MODES:
        raise bad_request(f"mode must be one of {', '.join(MODES)}", "mode")
    if mode == "update" and request.resource_id is None:
        raise bad_request("mode=update needs the resource's id in the URL: [type]/[id]/$validate", "mode")
    if mode != "delete" and resource is None:
        raise bad_request("$validate needs a resource: the body, or a Parameters with a 'resource'", "resource")
    return resource, profile, mode


async def _write_issues(
    ctx: ServiceContext,
    request: FhirRequest,
    resource_type: str,
    resource: Any,
    profile: str | None,
    mode: str,
) -> list[Issue]:
    """What the resource's own checks find (with their warnings and a requested profile), and
    what the write itself answers, run as a dry run and rolled back."""
    url_id = request.resource_id if mode == "update" else None
    try:
        validated = validate_resource(
            dict(resource) if isinstance(resource, dict) else resource,
            resource_type,
            url_id=url_id,
            local_base=request.base_url,
            check_profiles=False,
        )
    except FhirError as refusal:
        return refusal.issues  # the resource is not even well formed: profiles would only repeat it
    issues = validate_profiles(validated.resource, [profile] if profile else None)
    # The write would stop at a profile's error; the dry run goes on past it, so that one
    # answer names every rule the resource breaks, each as the write would name it.

    async def work(unit: UnitOfWork) -> WriteResult:
        if url_id is None:
            return await unit.create(validated)
        return await unit.update(validated, url_id)

    try:
        await ctx.repository.write(request.identity, request.base_url, work, dry_run=True)
    except FhirError as refusal:
        issues += refusal.issues
    return issues


async def _delete_issues(ctx: ServiceContext, request: FhirRequest, resource_type: str) -> list[Issue]:
    if request.resource_id is None:
        raise bad_request("mode=delete needs the resource's id in the URL: [type]/[id]/$validate", "mode")
    referring = await ctx.repository.referrers(request.identity, resource_type, request.resource_id)
    return [
        error("conflict", f"{resource_type}/{request.resource_id} is still referred to by {t}/{i} ({path})")
        for t, i, path in referring
    ]

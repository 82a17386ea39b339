"""``$validate`` (R4 resource-operation-validate.html): would this resource be accepted?

* ``POST [base]/{type}/$validate`` and ``POST [base]/{type}/{id}/$validate`` with a resource,
  or a Parameters resource holding ``resource``, ``profile`` and ``mode``;
* ``GET [base]/{type}/{id}/$validate`` validates the stored resource;
* ``profile`` and ``mode`` may also be URL parameters.

It runs the checks of a single resource that a write runs (JSON form, bindings, reference
types, structure, Swedish identifiers, the applicable profiles and a requested one, the
contract's patient goal, local references) without writing anything.  The rules that need the
write itself are not run: the fixed-contact limit across care teams (a 409 at write time) and a
Subscription's activation.  It answers 200 with an OperationOutcome: its errors,
its warnings (extensible bindings, unknown profiles), or one informational issue when all is
well.  ``mode=create`` ignores the id, ``update`` requires the URL's, ``delete`` reports
whether resources still refer to the one named.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.conformance.validator import validate_profiles
from fhirbridge.contract.goal_rule import patient_goal_issue
from fhirbridge.errors import FhirError, Issue, bad_request, error, not_found
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.outcome import operation_outcome
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.validation.pipeline import validate_resource

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
    url_id = request.resource_id if mode == "update" else None
    issues: list[Issue] = []
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
    issues += validate_profiles(validated.resource, [profile] if profile else None)

    async def read_goal(goal_id: str) -> dict[str, Any] | None:
        record = await ctx.repository.read(request.identity, "Goal", goal_id)
        return None if record is None or record.content is None else dict(loads(record.content))

    goal_issue = await patient_goal_issue(validated.resource, read_goal, request.base_url)
    if goal_issue is not None:
        issues.append(goal_issue)
    for found in validated.references:
        parsed = found.parsed
        if parsed.kind != "local" or parsed.resource_type is None or parsed.resource_id is None:
            continue
        if parsed.resource_type not in STORED_TYPES:
            continue
        target = await ctx.repository.read(request.identity, parsed.resource_type, parsed.resource_id)
        if target is None or target.deleted:
            where = f"{found.path}.reference"
            issues.append(error("not-found", f"{parsed.resource_type}/{parsed.resource_id} does not exist", where))
    return issues


async def _delete_issues(ctx: ServiceContext, request: FhirRequest, resource_type: str) -> list[Issue]:
    if request.resource_id is None:
        raise bad_request("mode=delete needs the resource's id in the URL: [type]/[id]/$validate", "mode")
    referring = await ctx.repository.referrers(request.identity, resource_type, request.resource_id)
    return [
        error("conflict", f"{resource_type}/{request.resource_id} is still referred to by {t}/{i} ({path})")
        for t, i, path in referring
    ]

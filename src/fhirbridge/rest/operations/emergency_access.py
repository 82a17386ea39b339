"""``POST [base]/Patient/{id}/$emergency-access``: emergency access (nödåtkomst, PDL 6 kap. 3 §).

A clinician without a care relation or the patient's consent may open the patient's plans
when the patient cannot be asked and the information may matter for urgent care.  It is a
deliberate act: a user token (a person, ``fhirUser``, acting for a unit), a reason in words,
and a time limit (``minutes``, at most ``emergency_access_max_minutes``, 60 by default).  The
grant is an AuditEvent (subtype ``emergency-access``, ``period`` = the grant, the reason in
``purposeOfEvent``) written before the answer; every access under it is audited with the
reason too.  Emergency access never opens information the patient has blocked.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.access.grants import AUDIT_SUBTYPES, EMERGENCY_ACCESS
from fhirbridge.access.policy import forbidden
from fhirbridge.audit.events import Seen, audit_event
from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.errors import bad_request, not_found
from fhirbridge.fhir.instants import format_instant, now_us
from fhirbridge.identity import SYSTEM
from fhirbridge.observability.request_id import current_request_id
from fhirbridge.rest.interactions.common import require_id
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse

NAME = EMERGENCY_ACCESS
DEFINITION = f"{CANONICAL_BASE}/OperationDefinition/Patient-emergency-access"
DEFAULT_MINUTES = 60
MOST_REASON = 1000


async def emergency_access(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    identity = request.identity
    patient_id = request.resource_id or ""
    require_id("Patient", patient_id)
    if not identity.unrestricted and (identity.kind != "user" or identity.on_behalf_of is None):
        raise forbidden("Emergency access is a person's act: it needs a user token (fhirUser) naming a care unit")
    reason, minutes = _arguments(request, ctx.settings.emergency_access_max_minutes)
    patient = await ctx.repository.read(SYSTEM, "Patient", patient_id)
    if patient is None or patient.deleted:
        raise not_found(f"Patient/{patient_id} does not exist")
    start = now_us()
    end = start + minutes * 60_000_000
    event = audit_event(
        identity,
        interaction="operation",
        operation=NAME,
        status=200,
        message=f"Emergency access to Patient/{patient_id} opened for {minutes} minutes",
        seen=Seen(patients={patient_id}, emergency_reasons={reason}),
        query=None,
        client_address=None,
        now_us=start,
        request_id=current_request_id(),
    )
    event["subtype"] = [{"system": AUDIT_SUBTYPES, "code": EMERGENCY_ACCESS}]
    event["period"] = {"start": format_instant(start), "end": format_instant(end)}
    grant_id = await ctx.audit.write_now(event) if ctx.audit is not None else None
    parameters: list[dict[str, Any]] = [
        {"name": "start", "valueInstant": format_instant(start)},
        {"name": "end", "valueInstant": format_instant(end)},
        {"name": "reason", "valueString": reason},
    ]
    if grant_id is not None:
        parameters.insert(0, {"name": "grant", "valueReference": {"reference": f"AuditEvent/{grant_id}"}})
    return FhirResponse(200, resource={"resourceType": "Parameters", "parameter": parameters})


def _arguments(request: FhirRequest, most_minutes: int) -> tuple[str, int]:
    """``reason`` (required) and ``minutes`` from a Parameters body or the query."""
    reason: Any = request.query_value("reason")
    minutes: Any = request.query_value("minutes")
    if request.body:
        body = request.json_body()
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise bad_request("The body must be a Parameters resource", "Parameters")
        parameters = body.get("parameter")
        if not isinstance(parameters, list):
            raise bad_request("Parameters.parameter is a list of parameters", "Parameters.parameter")
        for parameter in parameters:
            if isinstance(parameter, dict) and parameter.get("name") == "reason":
                reason = parameter.get("valueString")
            elif isinstance(parameter, dict) and parameter.get("name") == "minutes":
                minutes = parameter.get("valueInteger")
    if not isinstance(reason, str) or not reason.strip():
        raise bad_request("Emergency access needs a reason in words (parameter 'reason')", "reason")
    if len(reason) > MOST_REASON:
        raise bad_request(f"The reason is longer than {MOST_REASON} characters", "reason")
    if minutes is None:
        minutes = min(DEFAULT_MINUTES, most_minutes)
    if isinstance(minutes, str) and minutes.isdigit():
        minutes = int(minutes)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= most_minutes:
        raise bad_request(f"minutes must be a whole number from 1 to {most_minutes}", "minutes")
    return reason.strip(), minutes

"""``POST [base]/Patient/$merge``: two Patients are one person (R5 patient-operation-merge.html,
applied to R4; :mod:`fhirbridge.patients.merge` says what it does).

The body is a Parameters resource, as in R5: ``source-patient`` and ``target-patient``
(Reference), or ``source-patient-identifier`` and ``target-patient-identifier`` (Identifier, all
of which must name one Patient).  ``result-patient`` and ``preview`` are not supported (400):
the server builds the result itself, and a merge is one transaction that either happens or not.
The answer is 200 with Parameters: ``input`` (the request), ``outcome`` (what was moved) and
``result`` (the surviving Patient).

Who may: users and systems with update scopes on Patient and on what moves, and, for a user
acting for a unit, the standing the access policy asks for both patients; never a patient's
own token.  The merge is a write like any other: every version passes the access policy, the
rules and referential integrity, and the Provenance names the caller.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.access.policy import forbidden
from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.errors import FhirError, Issue, bad_request, not_found, unprocessable
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.outcome import operation_outcome
from fhirbridge.fhir.references import parse_reference
from fhirbridge.patients.merge import Merged, merge_patients, refusal
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.writes.unit_of_work import UnitOfWork

NAME = "merge"
DEFINITION = f"{CANONICAL_BASE}/OperationDefinition/Patient-merge"
ROLES = ("source", "target")
UNSUPPORTED = ("result-patient", "preview")
MOST_LISTED = 100

Arguments = dict[str, list[dict[str, Any]]]


async def merge(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    identity = request.identity
    if identity.kind == "patient" and not identity.unrestricted:
        raise forbidden("Patients are merged by care staff or the region's systems, not with a patient's token")
    body = request.json_body()
    arguments = _arguments(body)
    named: dict[str, str] = {}

    async def work(unit: UnitOfWork) -> Merged:
        for role in ROLES:
            named[role] = await _patient(unit, arguments, role)
        for role in ROLES:  # before anything about either is compared (or told): the caller's standing
            if not await unit.may_name(named[role]):
                raise not_found(f"The {role} parameters name no Patient that you may write about")
        return await merge_patients(unit, named["source"], named["target"])

    try:
        merged = await ctx.repository.write(identity, request.base_url, work)
    except FhirError as cause:
        if cause.status in (409, 422) and len(named) == len(ROLES):
            raise refusal(cause, named["source"], named["target"]) from None
        raise
    return FhirResponse(200, resource=_answer(body, merged))


def _arguments(body: Any) -> Arguments:
    """The Parameters by name; a 400 naming what is not a Parameters of this operation."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise bad_request("$merge takes a Parameters resource", "Parameters")
    parameters = body.get("parameter")
    if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
        raise bad_request("Parameters.parameter is a list of parameters", "Parameters.parameter")
    found: Arguments = {}
    for index, parameter in enumerate(parameters):
        name = parameter.get("name")
        if name in UNSUPPORTED:
            raise bad_request(
                f"{name} is not supported: the server builds the surviving Patient itself, and merges at once",
                f"Parameters.parameter[{index}]",
            )
        found.setdefault(str(name), []).append(parameter)
    for role in ROLES:
        if f"{role}-patient" not in found and f"{role}-patient-identifier" not in found:
            raise bad_request(f"$merge needs {role}-patient or {role}-patient-identifier", "Parameters.parameter")
        if len(found.get(f"{role}-patient", [])) > 1:
            raise bad_request(f"{role}-patient is given more than once", "Parameters.parameter")
    return found


async def _patient(unit: UnitOfWork, arguments: Arguments, role: str) -> str:
    """The id of the Patient a role names: by reference, by identifiers, or both (they must agree)."""
    candidates: set[str] | None = None
    reference = (arguments.get(f"{role}-patient") or [{}])[0].get("valueReference")
    identifiers = [p.get("valueIdentifier") for p in arguments.get(f"{role}-patient-identifier", [])]
    if isinstance(reference, dict) and isinstance(reference.get("identifier"), dict):
        identifiers.append(reference["identifier"])
    if isinstance(reference, dict) and reference.get("reference") is not None:
        parsed = parse_reference(str(reference["reference"]), unit.local_base)
        if parsed is None or parsed.kind != "local" or parsed.resource_type != "Patient" or not parsed.resource_id:
            raise bad_request(f"{role}-patient must refer to a Patient on this server", f"{role}-patient")
        candidates = {parsed.resource_id} if await unit.may_name(parsed.resource_id) else set()
    elif f"{role}-patient" in arguments and not identifiers:
        raise bad_request(f"{role}-patient is a Reference to a Patient", f"{role}-patient")
    for identifier in identifiers:
        if not isinstance(identifier, dict) or not identifier.get("system") or not identifier.get("value"):
            raise bad_request(f"{role}-patient-identifier needs a system and a value", f"{role}-patient-identifier")
        criteria = [("identifier", f"{identifier['system']}|{identifier['value']}")]
        found = set(await unit.find("Patient", criteria, limit=2))
        candidates = found if candidates is None else candidates & found
    if not candidates:
        raise not_found(f"The {role} parameters name no Patient that you may write about")
    if len(candidates) > 1:
        raise unprocessable(f"The {role} parameters do not name exactly one Patient", f"{role}-patient")
    return candidates.pop()


def _answer(body: dict[str, Any], merged: Merged) -> dict[str, Any]:
    source, target = merged.source.resource_id, merged.target.resource_id
    moved = [f"{r.resource_type}/{r.resource_id}" for r in merged.moved]
    listed = ", ".join(moved[:MOST_LISTED]) + (" …" if len(moved) > MOST_LISTED else "")
    issues = [
        Issue(
            "information",
            "informational",
            f"Patient/{source} is merged into Patient/{target}: it is kept, inactive, with a replaced-by link, "
            f"and its identifiers moved to Patient/{target}",
        ),
        Issue("information", "informational", f"{len(moved)} resource(s) moved: {listed or 'none'}"),
    ]
    if merged.corrected is not None:
        issues.append(
            Issue(
                "information",
                "informational",
                f"The earlier link to Patient/{merged.corrected} is corrected: what came from Patient/{source} left it",
            )
        )
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "input", "resource": body},
            {"name": "outcome", "resource": operation_outcome(issues)},
            {"name": "result", "resource": loads(merged.target.content or b"{}")},
        ],
    }

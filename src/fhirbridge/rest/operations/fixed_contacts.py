"""``GET [base]/Patient/{id}/$fixed-contacts``: whom the patient turns to (issue 4; seed 001, 003).

An instance-level operation (R4 operations.html#instance) that answers with a Parameters
resource: the patient's active fixed care contact, fixed doctor and treating roles, each with
name, role, unit, phone numbers, hours, care team and since when
(:mod:`fhirbridge.contract.care_contacts`).  It reads through the repository's search, with
the caller's identity, so the access rules that will filter searches filter this too.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.contract.care_contacts import as_parameters, care_contacts
from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.errors import gone, not_found
from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.jsonio import loads
from fhirbridge.rest.interactions.common import require_id
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse
from fhirbridge.search.query import parse_query
from fhirbridge.storage.records import StoredResource

NAME = "fixed-contacts"
DEFINITION = f"{CANONICAL_BASE}/OperationDefinition/Patient-fixed-contacts"


async def fixed_contacts(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    patient_id = request.resource_id or ""
    require_id("Patient", patient_id)
    patient = await ctx.repository.read(request.identity, "Patient", patient_id)
    if patient is None:
        raise not_found(f"Patient/{patient_id} does not exist")
    if patient.deleted:
        raise gone(f"Patient/{patient_id} was deleted")
    query = parse_query(
        "CareTeam",
        [
            ("subject", f"Patient/{patient_id}"),
            ("_include", "CareTeam:participant"),
            ("_include:iterate", "PractitionerRole:practitioner"),
            ("_include:iterate", "PractitionerRole:organization"),
            ("_total", "none"),
        ],
        strict=True,
        default_count=ctx.settings.max_page_size,
        max_count=ctx.settings.max_page_size,
    )
    page = await ctx.repository.search(request.identity, query, request.base_url)
    teams = [_json(record) for record in page.matches]
    resolved = {f"{r.resource_type}/{r.resource_id}": _json(r) for r in page.included}
    for team in teams:  # the units participants act for: not reachable by a CareTeam include
        for participant in team.get("participant", []):
            reference = str((participant.get("onBehalfOf") or {}).get("reference"))
            if reference.startswith("Organization/") and reference not in resolved:
                organization = await ctx.repository.read(request.identity, "Organization", reference.split("/")[1])
                if organization is not None and not organization.deleted:
                    resolved[reference] = _json(organization)
    return FhirResponse(200, resource=as_parameters(care_contacts(teams, resolved, now_us())))


def _json(record: StoredResource) -> dict[str, Any]:
    resource: dict[str, Any] = loads(record.content or b"{}")
    return resource

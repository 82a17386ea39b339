"""``GET [base]/Patient/{id}/$fixed-contacts``: whom the patient turns to (issue 4; seed 001, 003).

An instance-level operation (R4 operations.html#instance) that answers with a Parameters
resource: the patient's active fixed care contact, fixed doctor and treating roles, each with
name, role, unit, phone numbers, hours, care team and since when
(:mod:`fhirbridge.contract.care_contacts`).  It reads through the repository's search, with
the caller's identity, so the access rules that will filter searches filter this too.
"""

from __future__ import annotations

from fhirbridge.contract.care_contacts import as_parameters, care_contacts
from fhirbridge.contract.care_network import load_care_network
from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.errors import gone, not_found
from fhirbridge.fhir.instants import now_us
from fhirbridge.patients.survivors import surviving_patient
from fhirbridge.rest.interactions.common import require_id
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse

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
    network = await load_care_network(
        ctx.repository,
        request.identity,
        await surviving_patient(ctx.repository, patient_id),  # a merged record answers for its person
        request.base_url,
        ctx.settings.max_page_size,
    )
    return FhirResponse(200, resource=as_parameters(care_contacts(network.teams, network.resolved, now_us())))

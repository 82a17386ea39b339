"""``GET|POST [base]/QuestionnaireResponse/{id}/$extract``: a draft contract from the contract
conversation's answers (issue 13.3; the SDC operation of that name, R4 operations.html#instance).

Reads the stored response as a read does (the caller's access applies: a response they may not
read is as unknown to them as to a read), writes nothing, and answers 200 with the transaction
Bundle of :func:`fhirbridge.questionnaires.extract.draft_contract`.  A response to another
questionnaire is a 422 naming ``QuestionnaireResponse.questionnaire``.
"""

from __future__ import annotations

from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.errors import FhirError, gone, not_found
from fhirbridge.fhir.jsonio import loads
from fhirbridge.questionnaires.extract import draft_contract, not_a_conversation
from fhirbridge.rest.interactions.common import require_id
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse

NAME = "extract"
DEFINITION = f"{CANONICAL_BASE}/OperationDefinition/QuestionnaireResponse-extract"


async def extract(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    response_id = request.resource_id or ""
    address = f"QuestionnaireResponse/{response_id}"
    require_id("QuestionnaireResponse", response_id)
    record = await ctx.repository.read(request.identity, "QuestionnaireResponse", response_id)
    if record is None:
        raise not_found(f"{address} does not exist")
    if record.deleted or record.content is None:
        raise gone(f"{address} was deleted")
    response = dict(loads(record.content))
    issue = not_a_conversation(response)
    if issue is not None:
        raise FhirError(422, [issue])
    return FhirResponse(200, resource=draft_contract(response))

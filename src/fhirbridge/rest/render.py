"""Rendering FHIR responses and errors as HTTP, in one place (R4 http.html#mime-type).

Interactions answer in JSON; a client that asked for XML gets the same resource written as
FHIR XML (R4 xml.html) here, errors included.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fhirbridge.errors import FhirError
from fhirbridge.fhir.jsonio import dumps, loads, pretty_print
from fhirbridge.fhir.outcome import operation_outcome
from fhirbridge.fhir.xml import write_xml
from fhirbridge.rest.messages import FhirResponse
from fhirbridge.rest.negotiation import FHIR_JSON, ResponseFormat, response_format

DEFAULT_FORMAT = ResponseFormat(FHIR_JSON, pretty=False)
_NO_BODY = frozenset({204, 304})


def render(response: FhirResponse, fmt: ResponseFormat) -> Response:
    body = b""
    if response.status not in _NO_BODY:
        if fmt.is_xml and response.body:
            body = write_xml(loads(response.body), pretty=fmt.pretty)
        elif fmt.is_xml and response.resource is not None:
            body = write_xml(response.resource, pretty=fmt.pretty)
        elif response.body is not None:
            body = pretty_print(response.body) if response.body and fmt.pretty else response.body
        elif response.resource is not None:
            body = dumps(response.resource, pretty=fmt.pretty)
    headers = dict(response.headers)
    if body:
        headers["Content-Type"] = fmt.content_type
    return Response(content=body, status_code=response.status, headers=headers)


def error_format(request: Request) -> ResponseFormat:
    """The format the client asked for, if we speak it; FHIR JSON otherwise (a 406 itself, say)."""
    try:
        params = request.query_params
        return response_format(request.headers.get("accept"), params.get("_format"), params.get("_pretty"))
    except FhirError:
        return DEFAULT_FORMAT


def render_error(error: FhirError, fmt: ResponseFormat = DEFAULT_FORMAT) -> Response:
    return render(FhirResponse(error.status, resource=operation_outcome(error.issues), headers=error.headers), fmt)

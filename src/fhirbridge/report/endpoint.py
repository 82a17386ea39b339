"""``GET /report?format=json|csv|html&period=…&unit=…&caregiver=…``: the follow-up report over HTTP.

Behind authentication, the CarePlan search scope and the access log like the other adapters'
routes (:mod:`fhirbridge.adapters.registry`); the caller's token decides which units it counts
(:func:`fhirbridge.report.filters.readable_units`).  Every format goes through
:func:`answer`: the HTML page (:mod:`fhirbridge.report.page`, for ``format=html`` or a browser's
``Accept: text/html``) is the same figures with a filter form.  Errors answer in the kind asked
for: a plain Swedish page for a browser, an OperationOutcome otherwise (as the overview does).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fhirbridge.adapters.adapter import Adapter, caller
from fhirbridge.adapters.mappings import mapping
from fhirbridge.errors import FhirError, bad_request, not_acceptable
from fhirbridge.fhir.instants import now_us
from fhirbridge.report.engine import build_report
from fhirbridge.report.figures import Report
from fhirbridge.report.filters import parse_filters, readable_units
from fhirbridge.report.form import filter_form
from fhirbridge.report.page import error_page, render_page
from fhirbridge.report.render import to_csv, to_json
from fhirbridge.rest.render import error_format, render_error

PATH = "/report"
RENDERERS: dict[str, tuple[str, Callable[[Report], str]]] = {
    "json": ("application/json", to_json),
    "csv": ("text/csv; charset=utf-8", to_csv),
}
FORMATS = (*RENDERERS, "html")
_ACCEPTED = {"application/json": "json", "text/csv": "csv", "text/html": "html", "application/xhtml+xml": "html"}


def answer_format(request: Request) -> str:
    """``format`` (or ``_format``), else the first kind ``Accept`` names, else JSON; a 406 otherwise."""
    asked = request.query_params.get("format") or request.query_params.get("_format")
    if asked is None:
        for part in (request.headers.get("accept") or "").split(","):
            kind = _ACCEPTED.get(part.split(";")[0].strip().lower())
            if kind is not None:
                return kind
        return "json"
    if asked not in FORMATS:
        raise not_acceptable(f"format={asked} is not available: the report is {', '.join(FORMATS)}")
    return asked


async def answer(request: Request) -> Response:
    kind = answer_format(request)
    ctx = request.app.state.context
    params = request.query_params
    for name in ("period", "caregiver", "format"):
        if len(params.getlist(name)) > 1:
            raise bad_request(f"{name} is given more than once", name)
    filters = parse_filters(params.get("period"), params.getlist("unit"), params.get("caregiver"))
    identity = caller(request)
    report = await build_report(
        ctx.repository.database,
        filters,
        readable=lambda directory: readable_units(identity, directory),
        now_us=now_us(),
        minimum=ctx.settings.report_minimum_cell,
        exact=ctx.report_exact,
    )
    if kind == "html":
        form = await filter_form(ctx.repository.database, identity, params)
        return HTMLResponse(render_page(report, form, mapping("report-page")))
    media_type, render = RENDERERS[kind]
    return Response(render(report), media_type=media_type)


def refusal(request: Request, error: FhirError) -> Response:
    """An error as a plain page for a browser, an OperationOutcome for anyone else."""
    try:
        kind = answer_format(request)
    except FhirError:
        kind = "json"
    if kind != "html":
        return render_error(error, error_format(request))
    texts = mapping("report-page")
    named = error.issues[0].expression[:1] if error.issues else ()
    field = str(texts.get(named[0], named[0])) if named else str(texts["filters"])  # the form's label
    return HTMLResponse(error_page(error.status, field, texts), error.status, headers=error.headers)


ADAPTER = Adapter(name="report", mapping="report", routes=(("GET", PATH, answer),), reads="CarePlan", refusal=refusal)

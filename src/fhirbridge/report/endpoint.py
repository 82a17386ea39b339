"""``GET /report?format=json|csv&period=…&unit=…&caregiver=…``: the follow-up report over HTTP.

Behind authentication, the CarePlan search scope and the access log like the other adapters'
routes (:mod:`fhirbridge.adapters.registry`); the caller's token decides which units it counts
(:func:`fhirbridge.report.filters.readable_units`).  Every format goes through
:func:`answer`, so the HTML page is one more renderer in :data:`RENDERERS`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from fhirbridge.adapters.registry import Adapter, caller
from fhirbridge.errors import not_acceptable
from fhirbridge.fhir.instants import now_us
from fhirbridge.report.engine import build_report
from fhirbridge.report.figures import Report
from fhirbridge.report.filters import parse_filters, readable_units
from fhirbridge.report.render import to_csv, to_json

PATH = "/report"
RENDERERS: dict[str, tuple[str, Callable[[Report], str]]] = {
    "json": ("application/json", to_json),
    "csv": ("text/csv; charset=utf-8", to_csv),
}
_ACCEPTED = {"application/json": "json", "text/csv": "csv"}


def answer_format(request: Request) -> str:
    """``format`` (or ``_format``), else the first kind ``Accept`` names, else JSON; a 406 otherwise."""
    asked = request.query_params.get("format") or request.query_params.get("_format")
    if asked is None:
        for part in (request.headers.get("accept") or "").split(","):
            kind = _ACCEPTED.get(part.split(";")[0].strip().lower())
            if kind is not None:
                return kind
        return "json"
    if asked not in RENDERERS:
        raise not_acceptable(f"format={asked} is not available: the report is {' or '.join(RENDERERS)}")
    return asked


async def answer(request: Request) -> Response:
    kind = answer_format(request)
    ctx = request.app.state.context
    params = request.query_params
    filters = parse_filters(params.get("period"), params.getlist("unit"), params.get("caregiver"))
    identity = caller(request)
    report = await build_report(
        ctx.repository.database,
        filters,
        readable=lambda directory: readable_units(identity, directory),
        now_us=now_us(),
        minimum=ctx.settings.report_minimum_cell,
    )
    media_type, render = RENDERERS[kind]
    return Response(render(report), media_type=media_type)


ADAPTER = Adapter(name="report", mapping="report", routes=(("GET", PATH, answer),), reads="CarePlan")

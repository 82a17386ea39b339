"""``GET [base]/Measure/{id}/$evaluate-measure?periodStart=…&periodEnd=…[&subject=Organization/…]``
(R4 measure-operation-evaluate-measure.html), for the Measures fhirbridge ships
(:mod:`fhirbridge.report.measures`).

A summary MeasureReport computed by the follow-up report's
:func:`~fhirbridge.report.engine.build_report`, with its access (a unit its own units, the
region's services every unit, patients none) and its small-cell suppression.  ``subject`` is a
unit (an Organization, with the units below it), the MeasureReport's ``reporter``.  Only
``reportType=summary`` is served: a subject-list or individual report would name patients.

The period is whole months (``periodStart`` the first of one, ``periodEnd`` the last), like the
report's: a 400 naming the parameter otherwise.  A ``subject`` outside the caller's own units — a
parent of the caller's unit too — is a 403: the ``reporter`` is always the unit whose figures
these are, never a wider one.
"""

from __future__ import annotations

from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.errors import FhirError, bad_request, not_found
from fhirbridge.fhir.instants import now_us
from fhirbridge.report.engine import build_report
from fhirbridge.report.filters import (
    REPORT_READS,
    ReportFilters,
    closed_period,
    month_bound,
    parse_filters,
    parse_period,
    readable_units,
)
from fhirbridge.report.measures import measure_report, shipped_measure
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse

NAME = "evaluate-measure"
DEFINITION = f"{CANONICAL_BASE}/OperationDefinition/Measure-evaluate-measure"


async def evaluate_measure(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    ctx.repository.policy.require_scope(request.identity, *REPORT_READS)  # what GET /report needs
    measure_id = request.resource_id or ""
    measure = shipped_measure(measure_id)
    if measure is None:
        raise not_found(f"Measure/{measure_id} is not a measure this server evaluates")
    start, end = _date(request, "periodStart", first=True), _date(request, "periodEnd", first=False)
    period = parse_period(f"{start}/{end}", "periodEnd")  # a 400 when it ends before it begins
    period = closed_period(period, now_us(), "periodEnd")  # a 400 when it has not ended yet
    report_type = request.query_value("reportType") or "summary"
    if report_type != "summary":
        raise bad_request(f"reportType={report_type} is not served: only summary (it names no patient)", "reportType")
    subject = request.query_value("subject")
    unit = _unit(subject) if subject else None
    identity = request.identity
    try:
        report = await build_report(
            ctx.repository.database,
            ReportFilters(period=period, units=(unit,) if unit else ()),
            readable=lambda directory: readable_units(identity, directory),
            now_us=now_us(),
            minimum=ctx.settings.report_minimum_cell,
            exact=ctx.report_exact,
        )
    except FhirError as refused:
        if refused.status == 400 and refused.issues and refused.issues[0].expression == ("unit",):
            raise bad_request(f"subject={subject} is not a unit in the directory", "subject") from None
        raise
    return FhirResponse(200, resource=measure_report(measure, report, (start, end), unit))


def _date(request: FhirRequest, name: str, *, first: bool) -> str:
    """A ``date`` parameter (YYYY, YYYY-MM, or YYYY-MM-DD on a month's ``first`` or last day);
    a 400 naming it when missing, malformed or inside a month.  Together they must make a
    published period (a tertial or a year) that has ended."""
    value = request.query_value(name)
    if not value:
        raise bad_request(f"{name} is required (a date: YYYY, YYYY-MM or YYYY-MM-DD)", name)
    if "/" in value:
        raise bad_request(f"{name}={value!r} is not a date: write YYYY, YYYY-MM or YYYY-MM-DD", name)
    month_bound(value, name, first=first)
    return value


def _unit(subject: str) -> str:
    """``Organization/<id>`` (or a bare id): the unit whose figures are evaluated."""
    try:
        return parse_filters(None, [subject]).units[0]
    except (FhirError, IndexError):
        raise bad_request(f"subject={subject!r} is not a unit: write Organization/<id>", "subject") from None

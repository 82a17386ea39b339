"""The Measures fhirbridge ships (``profiles/Measure-*.json``) and how each is scored from the
follow-up report: a summary MeasureReport (R4 measurereport.html) made of the report's already
suppressed figures, so ``$evaluate-measure`` shows exactly what ``GET /report`` shows.

A suppressed count is left out with a ``data-absent-reason`` of ``masked``, never given as 0;
an overall count that would let a hidden stratum be worked out (total minus the shown strata)
is masked too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirbridge.access.guarded import GuardedRepository
from fhirbridge.conformance.registry import registry
from fhirbridge.identity import SYSTEM
from fhirbridge.loading import Loader, SourcedResource
from fhirbridge.report.figures import Rate, Rates, Report

POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
MASKED = {"extension": [{"url": DATA_ABSENT, "valueCode": "masked"}]}


@dataclass(frozen=True)
class Scoring:
    """Where a Measure's figures stand in the report: one rate of a figure, or a figure's rates
    as strata (their key's coordinates named by the stratifier's components)."""

    figure: str
    key: tuple[str, ...] | None = None
    """The one rate scored (None: every rate is a stratum)."""


SCORINGS: dict[str, Scoring] = {
    "contract-patients-fixed-contact": Scoring("patients_with_fixed_contacts", ("fast-vardkontakt",)),
    "contract-patients-next-contact": Scoring("patients_with_fixed_contacts", ("nasta-tid",)),
    "seven-questions-yes": Scoring("questions_yes"),
}


def shipped_measure(measure_id: str) -> dict[str, Any] | None:
    """A Measure fhirbridge ships and can evaluate, by id."""
    measure = registry().read("Measure", measure_id)
    return measure if measure is not None and measure_id in SCORINGS else None


def shipped_measures() -> list[dict[str, Any]]:
    return [m for m in registry().of_type("Measure") if m["id"] in SCORINGS]


async def install_measures(repository: GuardedRepository) -> int:
    """Write each shipped Measure the database does not hold yet, as the server itself through
    the one write path (validation, history, provenance, search index), so that every database
    has them (``GET /fhir/Measure/{id}``, search by url).  One the region has changed or deleted
    is left as it is.  Returns how many were written."""
    missing = [m for m in shipped_measures() if await repository.read(SYSTEM, "Measure", m["id"]) is None]
    if not missing:
        return 0
    report = await Loader(repository, identity=SYSTEM).load(
        SourcedResource(f"profiles/Measure-{m['id']}.json", m) for m in missing
    )
    if report.rejected:
        raise RuntimeError(f"a shipped Measure is refused: {report.rejected[0].summary}")
    return report.written


def measure_report(
    measure: dict[str, Any], report: Report, period: tuple[str, str], reporter: str | None
) -> dict[str, Any]:
    """The summary MeasureReport of ``measure`` over ``report`` (R4 MeasureReport, type summary)."""
    scoring = SCORINGS[measure["id"]]
    figure = report.figure(scoring.figure)
    assert isinstance(figure, Rates)
    chosen = [r for r in figure.rates if scoring.key is None or r.key == scoring.key]
    if scoring.key is not None:
        overall = chosen[0] if chosen else Rate(scoring.key, "", 0, 0)
    else:  # the strata's sum, unless a hidden stratum would follow from it
        hidden = any(r.denominator is None for r in chosen)
        masked = hidden or any(r.numerator is None for r in chosen)  # a masked numerator: no sum
        overall = Rate(
            (), "", None if masked else _sum(chosen, "numerator"), None if hidden else _sum(chosen, "denominator")
        )
    group: dict[str, Any] = {"population": _populations(overall), "measureScore": _score(overall)}
    declared = (measure.get("group") or [{}])[0].get("stratifier") or []
    if declared and scoring.key is None:
        components = [c["code"] for c in declared[0].get("component", [])]
        group["stratifier"] = [
            {
                "code": [declared[0]["code"]],
                "stratum": [_stratum(rate, components) for rate in chosen],
            }
        ]
    result: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": f"{measure['url']}|{measure['version']}",
        "date": report.generated,
        "period": {"start": period[0], "end": period[1]},
        "group": [group],
    }
    if reporter is not None:
        result["reporter"] = {"reference": f"Organization/{reporter}"}
    return result


def _sum(rates: list[Rate], part: str) -> int:
    return sum(int(getattr(rate, part) or 0) for rate in rates)


def _populations(rate: Rate) -> list[dict[str, Any]]:
    populations = []
    for code, count in (
        ("initial-population", rate.denominator),
        ("denominator", rate.denominator),
        ("numerator", rate.numerator),
    ):
        population: dict[str, Any] = {"code": {"coding": [{"system": POPULATION_SYSTEM, "code": code}]}}
        if count is None:
            population["_count"] = MASKED
        else:
            population["count"] = count
        populations.append(population)
    return populations


def _score(rate: Rate) -> dict[str, Any]:
    if rate.denominator is None or rate.numerator is None:
        return dict(MASKED)
    if rate.share is None:  # nobody to count: no score, and nothing hidden either
        return {"extension": [{"url": DATA_ABSENT, "valueCode": "not-applicable"}]}
    return {"value": round(rate.share, 4)}


def _stratum(rate: Rate, components: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "component": [
            {"code": code, "value": {"text": value}} for code, value in zip(components, rate.key, strict=True)
        ],
        "population": _populations(rate),
        "measureScore": _score(rate),
    }

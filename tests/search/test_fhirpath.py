"""The compiled FHIRPath subset agrees with the reference implementation (fhirpathpy)."""

from __future__ import annotations

from typing import Any

import pytest
from fhirpathpy import evaluate
from fhirpathpy.models import models

from fhirbridge.search.fhirpath import compile_expression, split_top_level
from fhirbridge.search.parameters import search_parameters

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "telecom": [{"system": "phone", "value": "070-1"}, {"system": "email", "value": "a@b.se"}],
    "name": [{"family": "Öberg", "given": ["Åsa", "Maria"]}],
    "deceasedDateTime": "2020-01-01",
    "extension": [{"url": "http://example.se/x", "valueString": "y"}],
}
GOAL: dict[str, Any] = {
    "resourceType": "Goal",
    "startDate": "2026-01-01",
    "target": [{"dueDate": "2026-06-01"}, {"dueDuration": {"value": 3}}],
    "subject": {"reference": "Patient/p1"},
}
CARE_PLAN: dict[str, Any] = {
    "resourceType": "CarePlan",
    "subject": {"reference": "Group/g1"},
    "activity": [{"detail": {"scheduledPeriod": {"start": "2026-01-01"}, "code": {"text": "x"}}}],
}


def test_split_respects_parentheses_and_quotes() -> None:
    assert split_top_level("a.where(b='x|y') | (c as d)", "|") == ["a.where(b='x|y')", "(c as d)"]


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        (PATIENT, "Patient.telecom.where(system='email')"),
        (PATIENT, "Patient.name.given"),
        (PATIENT, "(Patient.deceased as dateTime)"),
        (PATIENT, "Patient.extension('http://example.se/x')"),
        ({**GOAL, "target": [{"dueDate": "2026-06-01"}]}, "(Goal.target.due as date)"),
        (GOAL, "(Goal.start as date)"),
        (GOAL, "Goal.subject.where(resolve() is Patient)"),
        (CARE_PLAN, "CarePlan.subject.where(resolve() is Patient)"),
        (CARE_PLAN, "CarePlan.activity.detail.scheduled"),
    ],
)
def test_compiled_matches_fhirpathpy(resource: dict[str, Any], expression: str) -> None:
    compiled = compile_expression(expression, resource["resourceType"])(resource)
    if "resolve()" in expression:  # fhirpathpy cannot resolve references without a server
        expected_type = expression.rsplit(" is ", 1)[1].rstrip(")")
        assert all(node["reference"].startswith(expected_type) for node in compiled)
        assert bool(compiled) == (resource["subject"]["reference"].startswith(expected_type))
        return
    assert compiled == evaluate(resource, expression, {}, models["r4"])


def test_as_filters_a_collection_by_type() -> None:
    """R4 search expressions apply ``as`` to collections; it keeps the nodes of that type."""
    assert compile_expression("(Goal.target.due as date)", "Goal")(GOAL) == ["2026-06-01"]


def test_every_parameter_of_stored_types_compiles() -> None:
    for resource_type in ("CarePlan", "CareTeam", "Goal", "Patient", "Practitioner", "Appointment"):
        for parameter in search_parameters(resource_type).values():
            assert parameter.evaluate({"resourceType": resource_type}) in ([], [False])

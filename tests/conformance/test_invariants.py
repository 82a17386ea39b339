"""The Python twins of our profiles' invariants answer as FHIRPath does (conformance/invariants.py).

Each twin is held to ``fhirpathpy`` (the general evaluator the validator falls back on) over
the demo data and over generated variants that add, drop and bend exactly what the
invariants read: activity kinds and their systems, appointment references, schedules, care
roles, period ends, extensions, identifier values.  And every invariant of our profiles has a
twin, so none is evaluated by the slow path by accident.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirbridge.conformance.invariants import (
    ACTIVITY_KIND,
    CARE_ROLE,
    END_REASON,
    OFFER_DECLINED,
    TWINS,
    twin,
)
from fhirbridge.conformance.validator import _fhirpath, _without_primitive_extensions, validate_profiles
from fhirbridge.contract.codes import is_contract
from fhirbridge.demo.generator import demo_resources

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
EXPRESSIONS = dict(TWINS.keys())


def _our_constraints() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(PROFILES.glob("StructureDefinition-*.json")):
        profile = json.loads(path.read_text())
        for element in profile.get("differential", {}).get("element", []):
            for constraint in element.get("constraint", []):
                found.append((element["id"], constraint["key"], constraint["expression"]))
    return found


def _agree(key: str, value: Any) -> None:
    expression = EXPRESSIONS[key]
    compiled = twin(key, expression)
    assert compiled is not None
    expected = _fhirpath(expression)(_without_primitive_extensions(value))
    assert compiled(value) == expected, (key, value)


def test_every_invariant_of_our_profiles_has_a_twin() -> None:
    constraints = _our_constraints()
    assert constraints, "the profiles declare invariants"
    for element_id, key, expression in constraints:
        assert twin(key, expression) is not None, f"{element_id} {key} has no Python twin"


def test_a_changed_expression_has_no_twin() -> None:
    key, expression = next(iter(TWINS))
    assert twin(key, expression + " and true") is None
    assert twin(key + "-other", expression) is None


DEMO = list(demo_resources(12))
PLANS = [r for r in DEMO if r["resourceType"] == "CarePlan"]
PARTICIPANTS = [p for r in DEMO if r["resourceType"] == "CareTeam" for p in r.get("participant", [])]


PLAN_KEYS = ["contract-own-part", "contract-care-part", "contract-whom-to-contact", "contract-next-contact"]


@pytest.mark.parametrize("key", PLAN_KEYS)
def test_plan_twins_agree_on_the_demo_plans(key: str) -> None:
    assert PLANS
    for plan in PLANS:
        _agree(key, plan)
        _agree(key, {"resourceType": "CarePlan"})


def test_participant_twin_agrees_on_the_demo_care_teams() -> None:
    assert PARTICIPANTS
    for participant in PARTICIPANTS:
        _agree("contract-ended-assignment-has-reason", participant)


KINDS = st.sampled_from(["egen-insats", "egenvard", "vardens-insats", "kontaktvag", "nasta-kontakt", "annat"])
SYSTEMS = st.sampled_from([ACTIVITY_KIND, "http://example.org/other", None])


@st.composite
def coding(draw: st.DrawFn) -> dict[str, Any]:
    result: dict[str, Any] = {"code": draw(KINDS)}
    system = draw(SYSTEMS)
    if system is not None:
        result["system"] = system
    return result


@st.composite
def activity(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        target = draw(st.sampled_from(["Appointment/a1", "ServiceRequest/s1", "appointment/x", "Appointment"]))
        return {"reference": {"reference": target}}
    detail: dict[str, Any] = {"status": "scheduled"}
    codings = draw(st.lists(coding(), max_size=3))
    if codings:
        detail["code"] = {"coding": codings}
    schedule = draw(st.sampled_from([None, "scheduledString", "scheduledPeriod", "scheduledTiming"]))
    if schedule == "scheduledString":
        detail[schedule] = "om två veckor"
    elif schedule == "scheduledPeriod":
        detail[schedule] = {"start": "2027-01-14"}
    elif schedule == "scheduledTiming":
        detail[schedule] = {"event": ["2027-01-14T10:00:00+01:00"]}
    return {"detail": detail}


@settings(max_examples=300, deadline=None)
@given(activities=st.lists(activity(), max_size=5), base=st.sampled_from(range(len(PLANS))))
def test_plan_twins_agree_on_variants(activities: list[dict[str, Any]], base: int) -> None:
    plan = copy.deepcopy(PLANS[base])
    plan["activity"] = activities
    if not activities:
        del plan["activity"]
    for key in ("contract-own-part", "contract-care-part", "contract-whom-to-contact", "contract-next-contact"):
        _agree(key, plan)


@settings(max_examples=300, deadline=None)
@given(
    codes=st.lists(
        st.tuples(
            st.sampled_from([CARE_ROLE, "http://snomed.info/sct", None]),
            st.sampled_from(["fast-vardkontakt", "fast-lakarkontakt", "behandlare", "kontaktperson"]),
        ),
        max_size=3,
    ),
    ended=st.booleans(),
    started=st.booleans(),
    extensions=st.lists(st.sampled_from([END_REASON, OFFER_DECLINED, "http://example.org/x"]), max_size=2),
)
def test_participant_twin_agrees_on_variants(
    codes: list[tuple[str | None, str]], ended: bool, started: bool, extensions: list[str]
) -> None:
    participant: dict[str, Any] = {"member": {"reference": "PractitionerRole/r1"}}
    if codes:
        participant["role"] = [{"coding": [{"code": c} | ({"system": s} if s else {}) for s, c in codes]}]
    period = ({"start": "2026-01-01"} if started else {}) | ({"end": "2026-06-01"} if ended else {})
    if period:
        participant["period"] = period
    if extensions:
        participant["extension"] = [{"url": url, "valueString": "x"} for url in extensions]
    _agree("contract-ended-assignment-has-reason", participant)


@pytest.mark.parametrize(
    "value", ["199001011234", "19900101-1234", "9001011234", "1990010112345", "", "19900101123a", "199001011234\n"]
)
def test_personnummer_twin_agrees(value: str) -> None:
    _agree("se-personnummer-form", value)


def test_the_validator_reports_what_the_twins_find() -> None:
    """A contract without the patient's own part is refused by contract-own-part, as before."""
    plan = copy.deepcopy(next(p for p in PLANS if is_contract(p)))
    plan["activity"] = [
        a
        for a in plan.get("activity", [])
        if not any(
            c.get("code") in ("egen-insats", "egenvard") for c in a.get("detail", {}).get("code", {}).get("coding", [])
        )
    ]
    refused = [issue.diagnostics for issue in validate_profiles(plan) if issue.code == "invariant"]
    assert any("contract-own-part" in text for text in refused), refused
    assert not any("contract-care-part" in text for text in refused), refused

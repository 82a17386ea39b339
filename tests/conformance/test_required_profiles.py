"""The profiles a resource is held to without claiming them come from the profiles folder's
rules (profiles/rules/required-profiles.json), and agree with what the contract's code calls a
contract and a declined offer (fhirbridge.contract.codes), on every CarePlan of the demo and on
variants of them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhirbridge.conformance.required import required_profile
from fhirbridge.conformance.validator import CONTRACT_PROFILE, DECLINED_OFFER_PROFILE, validate_profiles
from fhirbridge.contract.codes import OFFER_DECLINED_EXTENSION, is_contract, is_declined_offer
from fhirbridge.demo.generator import demo_items


def _by_the_code(resource: dict[str, Any]) -> str | None:
    if is_declined_offer(resource):
        return DECLINED_OFFER_PROFILE
    return CONTRACT_PROFILE if is_contract(resource) else None


def _variants(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan, without its categories, with a declined offer's extension added, and with
    that extension only (no contract category)."""
    no_category = {k: v for k, v in plan.items() if k != "category"}
    declined = copy.deepcopy(plan)
    declined.setdefault("extension", []).append({"url": OFFER_DECLINED_EXTENSION, "valueBoolean": True})
    declined_only = dict(no_category, extension=[{"url": OFFER_DECLINED_EXTENSION, "valueBoolean": True}])
    return [plan, no_category, declined, declined_only]


CAREPLANS = [item.resource for item in demo_items() if item.resource["resourceType"] == "CarePlan"]


@pytest.mark.parametrize("index", range(0, len(CAREPLANS), max(1, len(CAREPLANS) // 25)))
def test_the_rules_agree_with_the_contract_code(index: int) -> None:
    for variant in _variants(CAREPLANS[index]):
        assert required_profile(variant) == _by_the_code(variant)


def test_a_contract_that_claims_no_profile_is_held_to_the_contract_profile() -> None:
    contract = next(plan for plan in CAREPLANS if is_contract(plan) and not is_declined_offer(plan))
    unclaimed = {k: v for k, v in contract.items() if k not in ("meta", "goal")}  # the profile wants goals
    errors = [i for i in validate_profiles(unclaimed) if i.severity == "error"]
    assert errors and all(i.diagnostics.startswith("ContractCarePlan") for i in errors), errors
    not_a_contract = {k: v for k, v in unclaimed.items() if k != "category"}
    assert [i for i in validate_profiles(not_a_contract) if i.severity == "error"] == []


def test_other_types_are_held_to_no_profile_they_do_not_claim() -> None:
    assert required_profile({"resourceType": "Goal", "category": CAREPLANS[0].get("category")}) is None

"""Every contract holds at least one goal expressed by the patient (seeds 000, 001, 003).

"Vad är viktigt för dig?": the contract starts from what matters to the patient, in the
patient's words.  The Goals are resources of their own, so a profile invariant on the
CarePlan cannot see them; this rule reads the contract's local Goal references and asks that
at least one has ``expressedBy`` = the contract's subject.  It runs in the write transaction
(:class:`PatientGoalRule`, a write listener, so Goals written in the same transaction count)
and in ``$validate`` (:func:`patient_goal_issue` with the repository as the reader).  It is
judged when the contract is written; a later change to the Goal is not checked against it.
A declined offer (:func:`~fhirbridge.contract.codes.is_declined_offer`) is no contract and
needs no goal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from fhirbridge.contract.codes import is_contract, is_declined_offer
from fhirbridge.contract.fixed_contacts import member_key
from fhirbridge.errors import FhirError, Issue
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

KEY = "contract-patient-goal"
GoalReader = Callable[[str], Awaitable[dict[str, Any] | None]]
"""Reads a live Goal by id; None when there is none."""


async def patient_goal_issue(
    plan: dict[str, Any], read_goal: GoalReader, local_base: str | None = None
) -> Issue | None:
    """The issue of a contract none of whose goals the patient expressed, else None.

    References are compared in their local form, so ``Patient/1``, its absolute URL on this
    server and ``Patient/1/_history/2`` are the same patient."""
    if not is_contract(plan) or is_declined_offer(plan):
        return None
    subject = member_key(plan.get("subject") or {}, local_base)
    for reference in plan.get("goal", []):
        if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
            continue
        parsed = parse_reference(reference["reference"], local_base)
        if parsed is None or parsed.kind != "local" or parsed.resource_type != "Goal" or not parsed.resource_id:
            continue
        goal = await read_goal(parsed.resource_id)
        if goal is not None and subject and member_key(goal.get("expressedBy") or {}, local_base) == subject:
            return None
    return Issue(
        "error",
        "invariant",
        f"ContractCarePlan {KEY}: vad är viktigt för dig? At least one of the contract's goals is expressed by "
        "the patient (a Goal on this server whose expressedBy is the contract's subject)",
        ("CarePlan.goal",),
    )


class PatientGoalRule:
    """A write listener: a 422 for a contract without a goal expressed by the patient."""

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        async def read_goal(goal_id: str) -> dict[str, Any] | None:
            record = await unit.read("Goal", goal_id)
            return None if record is None or record.content is None else dict(loads(record.content))

        issues = []
        for event in events:
            if event.record.resource_type == "CarePlan" and event.resource is not None:
                issue = await patient_goal_issue(event.resource, read_goal, unit.local_base)
                if issue is not None:
                    issues.append(issue)
        if issues:
            raise FhirError(422, issues)

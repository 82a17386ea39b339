"""Linked plans: the contract's references to the patient's other plans (DOMAIN.md, issue 15.3).

A municipality's SIP (samordnad individuell plan), a COPD care plan or a rehabilitation plan is a
CarePlan of its own, kept by its owner (a municipal system pushes it by conditional update on
its own identifier, R4 http.html#cond-update); the contract links it in ``CarePlan.supportingInfo``
(R4 careplan.html: "information considered as part of the plan"), which the contract profile
narrows to ``Reference(CarePlan)``.  Not ``basedOn`` (the contract does not fulfil the SIP) nor
``partOf`` (it is no component of it): both plans keep their own status and owner.

:class:`LinkedPlanRule`, a write listener, checks each link of a contract in the write
transaction: it names, by a literal reference (relative, an absolute URL of this server, or a
transaction's conditional reference or ``urn:uuid`` once resolved), the current version of
another live CarePlan of the same patient on this server.  A contained plan is refused: the
linked plan must be the owner's own resource, which they update and NPÖ answers as a plan of
its own.  A plan the caller may not see is answered as one that does not exist.  A linked plan cannot
move to another patient while a contract of its patient links it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fhirbridge.contract.codes import is_contract, is_declined_offer
from fhirbridge.contract.fixed_contact_rule import local_patient
from fhirbridge.errors import FhirError, Issue, error
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.references import parse_reference
from fhirbridge.storage import store
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

LINK_ELEMENT = "supportingInfo"
"""The contract's element that links its other plans (``CarePlan.supportingInfo``)."""
MOST_LINKING_CONTRACTS = 100
"""The most contracts read that link one plan (a patient has one or a few)."""


def linked_plan_ids(plan: dict[str, Any], local_base: str | None = None) -> list[str]:
    """The ids of the local CarePlans a contract links, in the order it names them."""
    found = []
    for reference in plan.get(LINK_ELEMENT) or []:
        text = reference.get("reference") if isinstance(reference, dict) else None
        parsed = parse_reference(text, local_base) if isinstance(text, str) else None
        if parsed is None or parsed.kind != "local" or parsed.resource_type != "CarePlan":
            continue
        if parsed.resource_id and parsed.resource_id not in found:
            found.append(parsed.resource_id)
    return found


class LinkedPlanRule:
    """A write listener: a 422 naming ``CarePlan.supportingInfo[n]`` for a contract's link that
    is not another live CarePlan of the same patient on this server."""

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        issues: list[Issue] = []
        for event in events:
            plan = event.resource
            if event.record.resource_type != "CarePlan" or plan is None:
                continue
            if is_contract(plan) and not is_declined_offer(plan):
                issues += await _link_issues(unit, event.record.resource_id, plan)
            elif await _moved_while_linked(unit, event, plan):
                where = unit.locations.get(("CarePlan", event.record.resource_id), "CarePlan")
                issues.append(
                    error(
                        "business-rule",
                        "The plan is linked from its patient's contract and cannot move to another patient; "
                        "the contract must unlink it first",
                        f"{where}.subject",
                    )
                )
        if issues:
            raise FhirError(422, issues)


async def _moved_while_linked(unit: UnitOfWork, event: WriteEvent, plan: dict[str, Any]) -> bool:
    """Whether a revision moves a plan that contracts link to another patient."""
    previous = event.previous
    if previous is None or previous.deleted or previous.content is None:
        return False
    before = local_patient(loads(previous.content), unit.local_base)
    if before == local_patient(plan, unit.local_base):
        return False
    linking = await contracts_linking(unit, event.record.resource_id)
    return any(local_patient(contract, unit.local_base) == before for _, _, contract in linking)


async def _link_issues(unit: UnitOfWork, plan_id: str, plan: dict[str, Any]) -> list[Issue]:
    prefix = unit.locations.get(("CarePlan", plan_id), "CarePlan")
    patient = local_patient(plan, unit.local_base)
    # Lock the linked plans (in one order, so two contracts never wait for each other): a
    # concurrent revision that moves one to another patient either commits before this reads it
    # or waits, and then finds this link (see _moved_while_linked).
    for linked_id in sorted(linked_plan_ids(plan, unit.local_base)):
        await store.read_current(unit.conn, "CarePlan", linked_id, lock=unit.conn.dialect.lock_for_update)
    issues = []
    for index, reference in enumerate(plan.get(LINK_ELEMENT) or []):
        where = f"{prefix}.{LINK_ELEMENT}[{index}]"
        problem = await _link_problem(unit, plan_id, patient, reference)
        if problem is not None:
            issues.append(error(problem[0], problem[1], where + problem[2]))
    return issues


async def _link_problem(
    unit: UnitOfWork, plan_id: str, patient: str | None, reference: Any
) -> tuple[str, str, str] | None:
    """(issue code, message, path below the link) of one link, or None when it is sound."""
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return (
            "required",
            "A linked plan is named by a literal reference to a CarePlan on this server "
            "(an identifier alone cannot be checked or shown)",
            ".reference",
        )
    parsed = parse_reference(text, unit.local_base)
    if parsed is None:
        return None  # not a reference at all: the JSON form check has said so
    if parsed.kind == "contained":
        return (
            "invalid",
            "A linked plan is a CarePlan of its own on this server, kept by its owner, not a contained resource",
            ".reference",
        )
    if parsed.kind != "local" or parsed.resource_type != "CarePlan" or not parsed.resource_id:
        return ("invalid", f"A linked plan is a CarePlan on this server, not {text}", ".reference")
    if parsed.version is not None:
        return (
            "invalid",
            f"Link the plan (CarePlan/{parsed.resource_id}), not one version of it: its owner keeps it up to date",
            ".reference",
        )
    if parsed.resource_id == plan_id:
        return ("invalid", "A contract does not link to itself", ".reference")
    target = await unit.read("CarePlan", parsed.resource_id)
    if target is None or target.deleted or target.content is None:
        return None  # referential integrity answers it, with the same words as for any reference
    hidden = not unit.identity.unrestricted and unit.sees is not None and not await unit.sees(unit, target)
    if hidden:
        return ("not-found", f"CarePlan/{parsed.resource_id} does not exist on this server", ".reference")
    if patient is None or local_patient(loads(target.content), unit.local_base) != patient:
        return (
            "invalid",
            f"CarePlan/{parsed.resource_id} is not a plan of the contract's patient: a contract links "
            "only the same patient's plans",
            ".reference",
        )
    return None


async def contracts_linking(unit: UnitOfWork, plan_id: str) -> list[tuple[str, int, dict[str, Any]]]:
    """The live contracts (id, version, content) that link this plan now, as this transaction
    sees them."""
    found: list[tuple[str, int, dict[str, Any]]] = []
    referring = await store.referrers(unit.conn, "CarePlan", plan_id, limit=MOST_LINKING_CONTRACTS)
    for resource_type, resource_id, path in referring:
        if resource_type != "CarePlan" or not path.startswith(f"CarePlan.{LINK_ELEMENT}"):
            continue
        record = await unit.read("CarePlan", resource_id)
        if record is None or record.deleted or record.content is None:
            continue
        contract = loads(record.content)
        if is_contract(contract) and not is_declined_offer(contract) and all(f[0] != resource_id for f in found):
            found.append((resource_id, record.version, contract))
    return found

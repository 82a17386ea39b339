"""The filter keys of each topic (R5 SubscriptionTopic ``canFilterBy``; in R4 the Subscriptions
Backport IG's ``backport-filter-criteria`` on ``Subscription.criteria``, as ``Type?key=value``).

A filter names a key the topic can filter by, each value one a region or a municipality asks
for; several keys (``&``, or several extensions) must all match, several values of one key
(``,``) any one of them:

========================================  ===============  =====================================================
topic                                     key              value: the change is sent when …
========================================  ===============  =====================================================
all four                                  ``patient``      ``Patient/<id>``: it is about this patient
contract established, contract revised    ``organization`` ``Organization/<id>``: a care unit taking part in
                                                           the contract (``CarePlan.contributor``) is this one
                                                           or part of it (``partOf``: a region, a municipality)
fixed care contact changed                ``organization`` ``Organization/<id>``: a fixed care contact of the
                                                           new team acts for this unit or one part of it
                                                           (``onBehalfOf``, else its PractitionerRole's unit)
SIP linked                                ``plan-type``    a plan type code (``sip``, ``rehabiliteringsplan`` …,
                                                           :data:`~fhirbridge.contract.codes.PLAN_TYPES`): a
                                                           newly linked plan is of this type
========================================  ===============  =====================================================

A filter with another key, another resource type or a malformed value is refused when the
Subscription is written (:func:`parse`, a 400 naming the extension).  Filters are applied in
the write transaction that makes the event (:func:`matches`, reading organisations and linked
plans on its connection); the owner's access is judged after them and apart
(:mod:`.subscriptions`), so no filter can widen what the owner is sent, and a linked plan the
owner may not read does not count for ``plan-type`` (its type would otherwise show through).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fhirbridge.contract.codes import PLAN_TYPE_SYSTEM, PLAN_TYPES
from fhirbridge.contract.fixed_contacts import FIXED_CARE_CONTACT, assignments
from fhirbridge.contract.linked_plans import linked_plan_ids
from fhirbridge.errors import bad_request
from fhirbridge.fhir.jsonio import loads
from fhirbridge.storage.records import StoredResource
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

_ID = r"[A-Za-z0-9\-.]{1,64}"
MOST_LEVELS = 8
"""How far up ``Organization.partOf`` a unit is followed (a unit, its clinic, its region …)."""

Sees = Callable[[StoredResource], Awaitable[bool]]
"""Whether the Subscription's owner may read a resource version (the access policy, as the owner)."""
Check = Callable[["UnitOfWork", WriteEvent, set[str], Sees], Awaitable[bool]]


@dataclass(frozen=True)
class FilterKey:
    """One key a topic can filter by: what a value looks like, and whether a change matches."""

    name: str
    value: re.Pattern[str]
    shape: str
    """What a value is, for the refusal (``Patient/<id>``)."""
    check: Check


def _local(reference: Any) -> str | None:
    """``Type/id`` of a reference (relative or absolute, without a version)."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    parts = reference["reference"].split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


async def _read(unit: UnitOfWork, local: str | None) -> dict[str, Any] | None:
    if local is None or "/" not in local:
        return None
    resource_type, resource_id = local.split("/", 1)
    record = await unit.read(resource_type, resource_id)
    if record is None or record.deleted or record.content is None:
        return None
    found: dict[str, Any] = loads(record.content)
    return found


async def _within(unit: UnitOfWork, organization: str | None, wanted: set[str]) -> bool:
    """Whether ``organization`` is one of ``wanted`` or part of one (``partOf``, a few levels up)."""
    seen: set[str] = set()
    for _ in range(MOST_LEVELS):
        if organization is None or organization in seen:
            return False
        if organization in wanted:
            return True
        seen.add(organization)
        found = await _read(unit, organization)
        organization = _local(found.get("partOf")) if found is not None else None
    return False


async def _patient(unit: UnitOfWork, event: WriteEvent, wanted: set[str], sees: Sees) -> bool:
    return _local((event.resource or {}).get("subject")) in wanted


async def _contributor(unit: UnitOfWork, event: WriteEvent, wanted: set[str], sees: Sees) -> bool:
    for contributor in (event.resource or {}).get("contributor") or []:
        if await _within(unit, _local(contributor), wanted):
            return True
    return False


async def _fixed_contact_unit(unit: UnitOfWork, event: WriteEvent, wanted: set[str], sees: Sees) -> bool:
    team = event.resource or {}
    participants = team.get("participant") or []
    for assignment in assignments(team):
        if assignment.role != FIXED_CARE_CONTACT:
            continue
        participant = participants[assignment.participant_index]
        organization = _local(participant.get("onBehalfOf"))
        if organization is None and assignment.member_key.startswith("PractitionerRole/"):
            role = await _read(unit, assignment.member_key)
            organization = _local(role.get("organization")) if role is not None else None
        if await _within(unit, organization, wanted):
            return True
    return False


async def _linked_plan_type(unit: UnitOfWork, event: WriteEvent, wanted: set[str], sees: Sees) -> bool:
    before = loads(event.previous.content) if event.previous is not None and event.previous.content else None
    new = set(linked_plan_ids(event.resource or {})) - set(linked_plan_ids(before) if before else [])
    for plan_id in sorted(new):
        record = await unit.read("CarePlan", plan_id)
        if record is None or record.deleted or record.content is None or not await sees(record):
            continue  # a plan the owner may not read says nothing of its type
        plan = loads(record.content)
        codes = {
            coding.get("code")
            for category in plan.get("category") or []
            for coding in category.get("coding") or []
            if coding.get("system") == PLAN_TYPE_SYSTEM
        }
        if codes & wanted:
            return True
    return False


PATIENT = FilterKey("patient", re.compile(rf"Patient/{_ID}"), "Patient/<id>", _patient)
_ORGANIZATION = re.compile(rf"Organization/{_ID}")
CONTRACT_KEYS = {
    "patient": PATIENT,
    "organization": FilterKey("organization", _ORGANIZATION, "Organization/<id>", _contributor),
}
FILTER_KEYS: dict[str, dict[str, FilterKey]] = {
    "contract-established": CONTRACT_KEYS,
    "contract-revised": CONTRACT_KEYS,
    "fixed-care-contact-changed": {
        "patient": PATIENT,
        "organization": FilterKey("organization", _ORGANIZATION, "Organization/<id>", _fixed_contact_unit),
    },
    "sip-linked": {
        "patient": PATIENT,
        "plan-type": FilterKey(
            "plan-type",
            re.compile("|".join(re.escape(code) for code in PLAN_TYPES)),
            f"a plan type ({', '.join(PLAN_TYPES)})",
            _linked_plan_type,
        ),
    },
}
"""The keys of each topic, by the last segment of its canonical URL."""


def keys_of(topic_url: str) -> dict[str, FilterKey]:
    """The filter keys of a topic (its ``canFilterBy``)."""
    return FILTER_KEYS[topic_url.rsplit("/", 1)[-1]]


def parse(topic_url: str, resource_type: str, text: Any, element: str) -> list[tuple[str, str]]:
    """One filter (``CarePlan?patient=Patient/1``, or the query alone) as (key, value) pairs; a
    400 naming ``element`` when it names another type, a key the topic has not, or a bad value."""
    keys = keys_of(topic_url)
    offered = ", ".join(keys)
    if not isinstance(text, str) or not text.strip():
        raise bad_request(f"A filter is {resource_type}?key=value with a key of {offered}", element)
    named_type, question, query = text.partition("?")
    if not question:
        named_type, query = resource_type, text
    if named_type != resource_type:
        raise bad_request(
            f"A filter of this topic is a search of {resource_type}, as {resource_type}?patient=…", element
        )
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        raise bad_request(f"A filter is {resource_type}?key=value with a key of {offered}", element)
    for key, value in pairs:
        if key not in keys:
            raise bad_request(f"This topic filters by {offered}, not {key!r}", element)
        for one in value.split(","):
            if not keys[key].value.fullmatch(one):
                raise bad_request(f"The filter {key} is {keys[key].shape}, not {one!r}", element)
    return pairs


async def matches(
    unit: UnitOfWork, topic_url: str, pairs: Sequence[tuple[str, str]], event: WriteEvent, sees: Sees
) -> bool:
    """Whether the change the event is matches every filter; a linked plan counts only if the
    owner may read it (``sees``), so that no filter tells the owner what it may not read."""
    keys = keys_of(topic_url)
    for key, value in pairs:
        if not await keys[key].check(unit, event, set(value.split(",")), sees):
            return False
    return True

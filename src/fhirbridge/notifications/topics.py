"""Topic-based Subscriptions as the R4 Subscriptions Backport IG describes them
(http://hl7.org/fhir/uv/subscriptions-backport/, *R4/B Topic-Based Subscription*).

A topic-based Subscription names a topic's canonical URL in ``criteria`` and narrows it with
``backport-filter-criteria`` extensions on ``criteria`` (search parameters of the topic's
resource type, ``CarePlan?patient=Patient/123``, all of which must match); it says how much a
notification carries with ``backport-payload-content`` on ``channel.payload`` (``empty``,
``id-only``, ``full-resource``) and how often the server signals that it is alive with
``backport-heartbeat-period`` on ``channel`` (seconds).

This server offers four topics, each decided on one write event (the new version beside the one
it replaced), without reading the database:

* *contract established*: a contract CarePlan is created, or its status becomes ``active``;
* *contract revised*: a contract CarePlan gets a new version;
* *fixed care contact changed*: who holds the fixed care contact role in a CareTeam changes
  (:mod:`fhirbridge.contract.fixed_contacts`);
* *SIP linked*: a contract CarePlan version's ``supportingInfo`` gains a reference to a CarePlan
  (:mod:`fhirbridge.contract.linked_plans`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhirbridge.contract.codes import CANONICAL_BASE, is_contract
from fhirbridge.contract.fixed_contacts import FIXED_CARE_CONTACT, assignments
from fhirbridge.contract.linked_plans import linked_plan_ids
from fhirbridge.fhir.jsonio import loads
from fhirbridge.writes.events import WriteEvent

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
FILTER_URL = f"{BACKPORT}/backport-filter-criteria"
PAYLOAD_CONTENT_URL = f"{BACKPORT}/backport-payload-content"
HEARTBEAT_URL = f"{BACKPORT}/backport-heartbeat-period"
TOPIC_CANONICAL_URL = f"{BACKPORT}/capabilitystatement-subscriptiontopic-canonical"
"""The CapabilityStatement extension (on ``rest.resource`` Subscription) naming a topic offered."""
STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{BACKPORT}/backport-subscription-notification-r4"
PAYLOAD_CONTENTS = ("empty", "id-only", "full-resource")
TOPIC_BASE = f"{CANONICAL_BASE}/SubscriptionTopic"


@dataclass(frozen=True)
class Topic:
    """One topic: its canonical URL, the resource type it is about, and when an event fires."""

    url: str
    title: str
    resource_type: str
    fires: Callable[[WriteEvent], bool]


def _before(event: WriteEvent) -> dict[str, Any] | None:
    if event.previous is None or event.previous.deleted or event.previous.content is None:
        return None
    before: dict[str, Any] = loads(event.previous.content)
    return before


def _contract(event: WriteEvent) -> dict[str, Any] | None:
    resource = event.resource
    if event.action == "delete" or resource is None or resource.get("resourceType") != "CarePlan":
        return None
    return resource if is_contract(resource) else None


def _established(event: WriteEvent) -> bool:
    plan = _contract(event)
    if plan is None:
        return False
    before = _before(event)
    return before is None or (plan.get("status") == "active" and before.get("status") != "active")


def _revised(event: WriteEvent) -> bool:
    return _contract(event) is not None and _before(event) is not None


def _fixed_care_contacts(team: dict[str, Any] | None) -> set[tuple[str, str | None, str | None]]:
    if team is None:
        return set()
    return {(a.member_key, a.start, a.end) for a in assignments(team) if a.role == FIXED_CARE_CONTACT}


def _fixed_contact_changed(event: WriteEvent) -> bool:
    team = event.resource
    if event.action == "delete" or team is None or team.get("resourceType") != "CareTeam":
        return False
    return _fixed_care_contacts(team) != _fixed_care_contacts(_before(event))


def _sip_linked(event: WriteEvent) -> bool:
    plan = _contract(event)
    if plan is None:
        return False
    before = _before(event)
    return bool(set(linked_plan_ids(plan)) - set(linked_plan_ids(before) if before else []))


TOPICS: dict[str, Topic] = {
    topic.url: topic
    for topic in (
        Topic(f"{TOPIC_BASE}/contract-established", "Contract established", "CarePlan", _established),
        Topic(f"{TOPIC_BASE}/contract-revised", "Contract revised", "CarePlan", _revised),
        Topic(
            f"{TOPIC_BASE}/fixed-care-contact-changed", "Fixed care contact changed", "CareTeam", _fixed_contact_changed
        ),
        Topic(f"{TOPIC_BASE}/sip-linked", "SIP linked", "CarePlan", _sip_linked),
    )
}


def is_topic_based(subscription: dict[str, Any]) -> bool:
    """Whether a Subscription's ``criteria`` is a topic's canonical URL rather than a search."""
    criteria = str(subscription.get("criteria", ""))
    return criteria.startswith(("http://", "https://", "urn:"))


def filters(subscription: dict[str, Any]) -> list[tuple[int, Any]]:
    """The ``backport-filter-criteria`` values, each with its index among ``criteria``'s extensions."""
    extensions = (subscription.get("_criteria") or {}).get("extension") or []
    return [
        (i, e.get("valueString"))
        for i, e in enumerate(extensions)
        if isinstance(e, dict) and e.get("url") == FILTER_URL
    ]


def payload_content(subscription: dict[str, Any]) -> str:
    """``empty``, ``id-only`` or ``full-resource``: what a notification carries (``empty`` when
    the Subscription names neither a payload nor a content)."""
    channel = subscription.get("channel") or {}
    for extension in (channel.get("_payload") or {}).get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == PAYLOAD_CONTENT_URL:
            return str(extension.get("valueCode"))
    return "id-only" if channel.get("payload") else "empty"


def heartbeat_seconds(subscription: dict[str, Any]) -> int | None:
    """The ``backport-heartbeat-period`` in seconds, or None when no heartbeat is asked for."""
    for extension in (subscription.get("channel") or {}).get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == HEARTBEAT_URL:
            value = extension.get("valueUnsignedInt")
            return value if isinstance(value, int) and value > 0 else None
    return None

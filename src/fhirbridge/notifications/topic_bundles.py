"""The notification Bundle of a topic-based Subscription (Subscriptions Backport IG, *R4
Topic-Based Subscription Notification Bundle* and *R4 Backported R5 SubscriptionStatus*).

A ``history`` Bundle whose first entry is the SubscriptionStatus, in R4 a ``Parameters``
(``subscription``, ``topic``, ``status``, ``type``: event-notification, heartbeat or handshake,
``events-since-subscription-start``, one ``notification-event`` per event with its
``event-number``, ``timestamp`` and, unless the payload is ``empty``, its ``focus``), then each
event's focus: the resource itself for ``full-resource``, its URL in ``fullUrl`` alone for
``id-only``.  The same Parameters answers ``$status``; the same Bundle answers ``$events``.
These functions are pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fhirbridge.notifications import topics
from fhirbridge.notifications.state import instant
from fhirbridge.notifications.topic_events import TopicEvent


@dataclass(frozen=True)
class Focus:
    """One event with the focus resource version, when the payload carries it."""

    event: TopicEvent
    resource: dict[str, Any] | None


def status_parameters(
    subscription_id: str, subscription: dict[str, Any], kind: str, since_start: int, events: Sequence[TopicEvent]
) -> dict[str, Any]:
    """The SubscriptionStatus of a Subscription as a Parameters resource."""
    content = topics.payload_content(subscription)
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"Subscription/{subscription_id}"}},
        {"name": "topic", "valueCanonical": str(subscription.get("criteria", ""))},
        {"name": "status", "valueCode": str(subscription.get("status", "active"))},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(since_start)},
    ]
    for event in events:
        part: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event.number)},
            {"name": "timestamp", "valueInstant": instant(event.created)},
        ]
        if content != "empty":
            part.append({"name": "focus", "valueReference": {"reference": _reference(event)}})
        parameters.append({"name": "notification-event", "part": part})
    error = subscription.get("error")
    if isinstance(error, str):
        parameters.append({"name": "error", "valueCodeableConcept": {"text": error}})
    return {"resourceType": "Parameters", "meta": {"profile": [topics.STATUS_PROFILE]}, "parameter": parameters}


def notification_bundle(
    subscription_id: str,
    subscription: dict[str, Any],
    kind: str,
    since_start: int,
    focuses: Sequence[Focus],
    base: str | None,
) -> dict[str, Any]:
    """The ``history`` Bundle sent to (or replayed for) a topic-based Subscription."""
    status = status_parameters(subscription_id, subscription, kind, since_start, [f.event for f in focuses])
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:status-{subscription_id}", "resource": status}]
    content = topics.payload_content(subscription)
    for focus in focuses if content != "empty" else ():
        entry: dict[str, Any] = {"fullUrl": _full_url(focus.event, base)}
        if content == "full-resource" and focus.resource is not None:
            entry["resource"] = focus.resource
        entry["request"] = {"method": "POST" if focus.event.version == 1 else "PUT", "url": _request_url(focus.event)}
        entry["response"] = {"status": "201" if focus.event.version == 1 else "200"}
        entries.append(entry)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "meta": {"profile": [topics.NOTIFICATION_PROFILE]},
        "type": "history",
        "entry": entries,
    }
    if focuses:
        bundle["timestamp"] = instant(focuses[-1].event.created)
    return bundle


def _reference(event: TopicEvent) -> str:
    return f"{event.resource_type}/{event.resource_id}/_history/{event.version}"


def _request_url(event: TopicEvent) -> str:
    return event.resource_type if event.version == 1 else f"{event.resource_type}/{event.resource_id}"


def _full_url(event: TopicEvent, base: str | None) -> str:
    relative = f"{event.resource_type}/{event.resource_id}"
    return f"{base.rstrip('/')}/{relative}" if base else relative

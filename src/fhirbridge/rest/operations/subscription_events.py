"""``Subscription/{id}/$status`` and ``Subscription/{id}/$events`` of a topic-based Subscription
(Subscriptions Backport IG, OperationDefinitions *Subscription Status* and *Subscription Events*).

``$status`` answers the SubscriptionStatus (a Parameters, :mod:`fhirbridge.notifications.topic_bundles`)
with ``type`` ``query-status`` and the count of events so far.  ``$events`` replays events by
number: ``eventsSinceNumber`` (default 1) through ``eventsUntilNumber`` (default the latest), at
most :data:`MOST_EVENTS` at a time, as the ``history`` Bundle a notification is, with
``type`` ``query-event``; a number that is not a positive integer, or a range outside the
events there have been, is a 400 naming the parameter.  The payload is the Subscription's own
(``empty``, ``id-only``, ``full-resource``); a focus is read as the caller reads it, so that
what the caller may no longer read is named, not shown.

Only the Subscription's owner reaches either: to anyone else it does not exist (404), as a read
of it does (:mod:`fhirbridge.notifications.owners`).
"""

from __future__ import annotations

from typing import Any

from fhirbridge.errors import bad_request, not_found, unprocessable
from fhirbridge.fhir.jsonio import loads
from fhirbridge.notifications import topic_bundles, topic_events, topics
from fhirbridge.rest.interactions.context import ServiceContext
from fhirbridge.rest.messages import FhirRequest, FhirResponse

STATUS = "status"
EVENTS = "events"
STATUS_DEFINITION = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"
EVENTS_DEFINITION = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events"
MOST_EVENTS = 100


async def _topic_subscription(ctx: ServiceContext, request: FhirRequest) -> tuple[str, dict[str, Any]]:
    """The caller's own topic-based Subscription named in the URL; 404 for anyone else's."""
    _, subscription_id = request.address()
    record = await ctx.repository.read(request.identity, "Subscription", subscription_id)
    if record is None or record.deleted or record.content is None:
        raise not_found(f"Subscription/{subscription_id} does not exist")
    subscription: dict[str, Any] = loads(record.content)
    if not topics.is_topic_based(subscription):
        raise unprocessable("Only a topic-based Subscription has numbered events", "Subscription.criteria")
    return subscription_id, subscription


async def status(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """``$status``: the Subscription's state and how many events it has had."""
    subscription_id, subscription = await _topic_subscription(ctx, request)
    async with ctx.repository.database.reader() as conn:
        count = await topic_events.count(conn, subscription_id)
    return FhirResponse(
        200, resource=topic_bundles.status_parameters(subscription_id, subscription, "query-status", count, [])
    )


def _number(request: FhirRequest, name: str, default: int) -> int:
    text = request.query_value(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise bad_request(f"{name} is an event number, a positive integer", name)
    return int(text)


async def events(ctx: ServiceContext, request: FhirRequest) -> FhirResponse:
    """``$events``: the events numbered ``eventsSinceNumber`` through ``eventsUntilNumber``."""
    subscription_id, subscription = await _topic_subscription(ctx, request)
    async with ctx.repository.database.reader() as conn:
        count = await topic_events.count(conn, subscription_id)
        first = _number(request, "eventsSinceNumber", 1)
        last = _number(request, "eventsUntilNumber", max(count, first))
        if first > count:
            raise bad_request(
                f"This Subscription has had {count} events; there is no event {first}", "eventsSinceNumber"
            )
        if last > count or last < first:
            raise bad_request(
                f"eventsUntilNumber is from eventsSinceNumber ({first}) to the latest event ({count})",
                "eventsUntilNumber",
            )
        found = await topic_events.between(conn, subscription_id, first, min(last, first + MOST_EVENTS - 1))
    full = topics.payload_content(subscription) == "full-resource"
    focuses = []
    for event in found:
        resource = None
        if full:
            record = await ctx.repository.vread(request.identity, event.resource_type, event.resource_id, event.version)
            resource = loads(record.content) if record is not None and record.content else None
        focuses.append(topic_bundles.Focus(event, resource))
    bundle = topic_bundles.notification_bundle(
        subscription_id, subscription, "query-event", count, focuses, request.base_url
    )
    return FhirResponse(200, resource=bundle)

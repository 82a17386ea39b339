"""The handshake of a topic-based rest-hook Subscription (Subscriptions Backport IG, *Workflow*:
"Valid Subscription, with Handshake", and *Notifications*: notification type ``handshake``).

A topic-based Subscription whose channel the endpoint has not accepted (it is created, turned
on again from ``off``, given another endpoint, or asked back from ``error``) is stored
``requested``, not ``active`` (:func:`awaiting_handshake`, a write enricher after
:func:`.subscriptions.activate`), and the
same transaction owes its endpoint a handshake (:func:`owed_handshakes`, called by the
notifier): an outbox row about the Subscription itself.  The delivery worker sends it as a
``history`` Bundle holding the SubscriptionStatus alone, ``type`` ``handshake`` and ``status``
``requested``, signed like any notification (:mod:`.signing`).

* The endpoint answers 2xx: the Subscription becomes ``active``.
* It does not (an error status, nothing listening, the endpoint rule refusing it): the
  Subscription becomes ``error`` at once, with the error and the next attempt shown
  (:mod:`.state`), and the handshake is tried again with the usual backoff; the first that
  gets through makes it ``active``.

A client never sets ``active`` itself (R5 subscription-status: ``requested``, "the client has
requested the subscription, and the server has not yet set it up"; the IG's *Workflow*: the
client requests, the server may shake hands, and the Subscription is active once it has): a
client's write asking ``active`` (or sending back ``error`` as it read it) is a request,
processed as a create's is.  On a Subscription in ``error`` it is stored ``requested`` and owes
a new handshake, which the events owed meanwhile wait for; on one still ``requested`` it stays
so, its handshake already owed; on an ``active`` one with the same endpoint nothing changes.

Events that happen meanwhile are numbered and kept (``$events`` has them), but none is sent
before the handshake has got through: the outbox claims no event of a Subscription whose
handshake is still owed (:func:`.outbox.claim_due`).  An R4 Subscription with search criteria
has no handshake: it is ``active`` as soon as it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fhirbridge.fhir.jsonio import loads
from fhirbridge.notifications import state, topics
from fhirbridge.notifications.outbox import Notification
from fhirbridge.storage import store
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

HANDSHAKE_TYPE = "Subscription"
"""The ``res_type`` of a handshake's outbox row (about the Subscription itself; no change to a
Subscription is otherwise announced, so no other row has it)."""


def _endpoint(subscription: dict[str, Any] | None) -> str | None:
    channel = (subscription or {}).get("channel")
    return str(channel.get("endpoint", "")) if isinstance(channel, dict) else None


def _needs_handshake(subscription: dict[str, Any], before: dict[str, Any] | None) -> bool:
    """Whether this version of a live topic-based Subscription opens a channel whose endpoint
    has not accepted it: none before, ``off`` (or gone) or ``error`` before, or another
    endpoint.  (One still ``requested`` has its handshake owed already.)"""
    if before is None or _endpoint(before) != _endpoint(subscription):
        return True
    return before.get("status") not in ("requested", "active")


async def awaiting_handshake(unit: UnitOfWork, validated: ValidatedResource) -> ValidatedResource:
    """A write enricher: a topic-based Subscription that would become ``active`` on a channel new
    to the server is stored ``requested`` until its handshake gets through; one still awaiting
    its handshake stays ``requested``.  The server's own writes (its state) are kept as they are."""
    subscription = validated.resource
    if (
        validated.resource_type != "Subscription"
        or subscription.get("status") != "active"
        or not topics.is_topic_based(subscription)
        or (unit.identity.unrestricted and unit.identity.kind == "system")
    ):
        return validated
    before = None
    if isinstance(subscription.get("id"), str):
        current = await store.read_current(unit.conn, "Subscription", subscription["id"])
        if current is not None and not current.deleted and current.content is not None:
            before = loads(current.content)
    waiting = before is not None and before.get("status") == "requested" and not _needs_handshake(subscription, before)
    if not (waiting or _needs_handshake(subscription, before)):
        return validated
    return ValidatedResource(
        "Subscription", dict(subscription, status="requested"), validated.references, validated.sites
    )


def owed_handshakes(events: Sequence[WriteEvent]) -> list[Notification]:
    """The handshakes a transaction owes: one per Subscription version it stored ``requested``
    on a channel new to the server (a client's read-modify-write of a Subscription still
    awaiting its handshake owes no second one)."""
    owed = []
    for event in events:
        subscription = event.resource
        if event.action == "delete" or event.record.resource_type != "Subscription" or subscription is None:
            continue
        if subscription.get("status") != "requested" or not topics.is_topic_based(subscription):
            continue
        previous = event.previous
        before = loads(previous.content) if previous is not None and previous.content and not previous.deleted else None
        if before is not None and before.get("status") == "requested" and not _needs_handshake(subscription, before):
            continue
        channel = subscription["channel"]
        owed.append(
            Notification(
                subscription_id=event.record.resource_id,
                resource_type=HANDSHAKE_TYPE,
                resource_id=event.record.resource_id,
                version=event.record.version,
                endpoint=str(channel.get("endpoint", "")),
                headers=tuple(channel.get("header", [])),
                payload=channel.get("payload"),
            )
        )
    return owed


def is_handshake(notification: Notification) -> bool:
    """Whether an outbox row is a handshake (:data:`HANDSHAKE_TYPE`)."""
    return notification.resource_type == HANDSHAKE_TYPE


def shaken(subscription: dict[str, Any]) -> dict[str, Any] | None:
    """The Subscription ``active`` once its handshake got through; None when it is not
    awaiting one (``requested``) or showing its failure (``error``)."""
    if subscription.get("status") == "requested":
        return dict(state.without_server_state(subscription), status="active")
    return state.recovered(subscription)

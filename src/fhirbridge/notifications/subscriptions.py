"""R4 rest-hook Subscriptions: which changes they want, decided inside the write (R4 subscription.html).

A Subscription names its interest as ``criteria``, a search URL (``Communication?recipient=
PractitionerRole/role-karin-lind``).  :class:`SubscriptionNotifier`, the last write listener,
checks every resource the transaction created or updated against every active Subscription of
its type by running the criteria as a search restricted to that resource, in the same
transaction, and records one outbox row per match.  Deletions are not announced: a deleted
resource no longer matches any search.

:func:`activate` is the server's half of the Subscription life cycle: a client submits a
Subscription as ``requested`` (or ``off``), the server checks what it can honour (rest-hook
channel, an http(s) endpoint, no payload or ``application/fhir+json``, criteria it can search)
and sets it ``active``; what it cannot honour is refused with an OperationOutcome naming the
element.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fhirbridge.errors import FhirError, bad_request, unprocessable
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.identity import Identity
from fhirbridge.notifications.outbox import Notification, enqueue
from fhirbridge.search.query import parse_query
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

PAYLOADS = frozenset({"application/fhir+json", "application/json"})


def split_criteria(criteria: str) -> tuple[str, list[tuple[str, str]]]:
    """``Type?a=1&b=2`` as the type and its parameters; a 400 naming ``Subscription.criteria``."""
    resource_type, _, query = criteria.partition("?")
    if resource_type not in STORED_TYPES:
        raise bad_request(
            f"Subscription criteria must search a type this server stores, not {resource_type!r}",
            "Subscription.criteria",
        )
    pairs = parse_qsl(query, keep_blank_values=True)
    try:
        parse_query(resource_type, pairs, strict=True, default_count=1, max_count=1)
    except FhirError as refusal:
        reason = "; ".join(issue.diagnostics for issue in refusal.issues)
        raise bad_request(f"Subscription criteria cannot be searched: {reason}", "Subscription.criteria") from None
    return resource_type, pairs


def activate(identity: Identity, validated: ValidatedResource) -> ValidatedResource:
    """A write enricher: check a Subscription the server is asked to honour and make it active."""
    if validated.resource_type != "Subscription":
        return validated
    subscription = validated.resource
    channel = subscription.get("channel", {})
    if channel.get("type") != "rest-hook":
        raise unprocessable("This server delivers rest-hook subscriptions only", "Subscription.channel.type")
    endpoint = str(channel.get("endpoint", ""))
    if not endpoint.startswith(("https://", "http://")):
        raise unprocessable("A rest-hook endpoint is an http: or https: URL", "Subscription.channel.endpoint")
    if channel.get("payload") not in (None, *PAYLOADS):
        raise unprocessable("The payload can be absent or application/fhir+json", "Subscription.channel.payload")
    split_criteria(str(subscription.get("criteria", "")))
    status = subscription.get("status")
    if status not in ("requested", "active", "off"):
        raise unprocessable(
            "A client submits a Subscription as requested or off; the server sets active and error",
            "Subscription.status",
        )
    if status == "off":
        return validated
    return ValidatedResource("Subscription", dict(subscription, status="active"), validated.references)


class SubscriptionNotifier:
    """The last write listener: one outbox row per (active Subscription, matching change)."""

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        changed = [e for e in events if e.action != "delete" and e.record.resource_type != "Subscription"]
        if not changed:
            return
        subscriptions = await _active_subscriptions(unit)
        owed = []
        for subscription_id, subscription in subscriptions:
            resource_type, criteria = split_criteria(subscription["criteria"])
            channel = subscription["channel"]
            for event in changed:
                if event.record.resource_type != resource_type:
                    continue
                if await unit.matches(resource_type, criteria, event.record.resource_id):
                    owed.append(
                        Notification(
                            subscription_id=subscription_id,
                            resource_type=resource_type,
                            resource_id=event.record.resource_id,
                            version=event.record.version,
                            endpoint=channel["endpoint"],
                            headers=tuple(channel.get("header", [])),
                            payload=channel.get("payload"),
                        )
                    )
        if owed:
            await enqueue(unit.conn, owed, unit.now)


async def _active_subscriptions(unit: UnitOfWork) -> list[tuple[str, dict[str, Any]]]:
    rows = await unit.conn.fetch(
        "SELECT res_id, content FROM resources WHERE res_type = 'Subscription' AND NOT deleted"
    )
    found = []
    for row in rows:
        subscription = loads(row[1])
        if subscription.get("status") == "active":
            found.append((row[0], subscription))
    return found

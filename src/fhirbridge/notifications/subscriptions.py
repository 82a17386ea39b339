"""R4 rest-hook Subscriptions: which changes they want, decided inside the write (R4 subscription.html).

A Subscription names its interest as ``criteria``, a search URL (``Communication?recipient=
PractitionerRole/role-karin-lind``).  :class:`SubscriptionNotifier`, the last write listener,
checks every resource the transaction created or updated against every active Subscription of
its type by running the criteria as a search restricted to that resource, in the same
transaction, and records one outbox row per match that the Subscription's owner may see: the
access policy judges the new version as the owner (:mod:`.owners`) on the write's connection,
so a block (spärr) written in the same transaction counts.  Deletions are not announced: a
deleted resource no longer matches any search.  A deleted Subscription's notifications still
owed are given up with it, so that nobody who later writes a Subscription of that id gets them.

:func:`activate` is the server's half of the Subscription life cycle: a client submits a
Subscription as ``requested`` (or ``off``), the server checks what it can honour (rest-hook
channel, an endpoint the endpoint rule allows (:mod:`.endpoints`), no payload or
``application/fhir+json``, criteria it can search and the token may read) and sets it
``active``, recording its owner; what it cannot honour is refused with an OperationOutcome
naming the element.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fhirbridge.access.guarded import policy_on
from fhirbridge.access.policy import AccessPolicy
from fhirbridge.access.search_rules import search_refusal
from fhirbridge.auth.tokens import insufficient_scope
from fhirbridge.errors import FhirError, bad_request, error, unprocessable
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.identity import Identity
from fhirbridge.notifications import handshake, owners, state, topic_events, topic_filters, topics
from fhirbridge.notifications.endpoints import EndpointPolicy, endpoint_refusal
from fhirbridge.notifications.outbox import Notification, enqueue, give_up_owed, replace_handshakes
from fhirbridge.search.dates import first_instant
from fhirbridge.search.query import parse_query
from fhirbridge.storage.records import StoredResource
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
PAYLOADS = frozenset({"application/fhir+json", "application/json"})
LIVE = frozenset({"active", "error"})
"""The states of a Subscription that is sent notifications (one in ``error`` is still retried)."""
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def split_criteria(criteria: str, element: str = "Subscription.criteria") -> tuple[str, list[tuple[str, str]]]:
    """``Type?a=1&b=2`` as the type and its parameters; a 400 naming ``element``."""
    resource_type, _, query = criteria.partition("?")
    if resource_type not in STORED_TYPES:
        raise bad_request(
            f"Subscription criteria must search a type this server stores, not {resource_type!r}", element
        )
    pairs = parse_qsl(query, keep_blank_values=True)
    try:
        parse_query(resource_type, pairs, strict=True, default_count=1, max_count=1)
    except FhirError as refusal:
        reason = "; ".join(issue.diagnostics for issue in refusal.issues)
        raise bad_request(f"Subscription criteria cannot be searched: {reason}", element) from None
    return resource_type, pairs


def interest_of(subscription: dict[str, Any]) -> tuple[str | None, str, list[tuple[str, str]]]:
    """What a Subscription asks for: its topic's URL (None for R4 search criteria), the resource
    type and the search parameters a change must match; a 400 or 422 naming the element at fault."""
    if not topics.is_topic_based(subscription):
        return (None, *split_criteria(str(subscription.get("criteria", ""))))
    topic = topics.TOPICS.get(str(subscription["criteria"]))
    if topic is None:
        raise unprocessable(f"This server offers the topics {', '.join(topics.TOPICS)}", "Subscription.criteria")
    pairs: list[tuple[str, str]] = []
    for index, value in topics.filters(subscription):
        element = f"Subscription.criteria.extension[{index}].valueString"
        pairs.extend(topic_filters.parse(topic.url, topic.resource_type, value, element))
    return topic.url, topic.resource_type, pairs


def _topic_channel_refusal(subscription: dict[str, Any]) -> FhirError | None:
    """Why a topic-based Subscription's channel extensions cannot be honoured, or None."""
    channel = subscription.get("channel") or {}
    for extension in (channel.get("_payload") or {}).get("extension") or []:
        if (
            extension.get("url") == topics.PAYLOAD_CONTENT_URL
            and extension.get("valueCode") not in topics.PAYLOAD_CONTENTS
        ):
            return unprocessable(
                "The payload content is empty, id-only or full-resource", "Subscription.channel.payload.extension"
            )
    for index, extension in enumerate(channel.get("extension") or []):
        if extension.get("url") == topics.HEARTBEAT_URL:
            value = extension.get("valueUnsignedInt")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                return unprocessable(
                    "The heartbeat period is a positive number of seconds",
                    f"Subscription.channel.extension[{index}].valueUnsignedInt",
                )
    return None


def activate(identity: Identity, validated: ValidatedResource, *, endpoints: EndpointPolicy) -> ValidatedResource:
    """A write enricher (with the deployment's ``endpoints`` rule bound): check a Subscription
    the server is asked to honour, record its owner and make it active."""
    if validated.resource_type != "Subscription":
        return validated
    subscription = owners.with_owner(identity, validated.resource)
    channel = subscription.get("channel", {})
    if channel.get("type") != "rest-hook":
        raise unprocessable("This server delivers rest-hook subscriptions only", "Subscription.channel.type")
    refusal = endpoint_refusal(str(channel.get("endpoint", "")), endpoints)
    if refusal is not None:
        raise unprocessable(refusal, "Subscription.channel.endpoint")
    for index, header in enumerate(channel.get("header", [])):
        name, colon, value = str(header).partition(":")
        if not colon or not name.strip() or not _TOKEN.fullmatch(name.strip()) or not value.isascii():
            raise unprocessable("A channel header is 'Name: value' in ASCII", f"Subscription.channel.header[{index}]")
    if channel.get("payload") not in (None, *PAYLOADS):
        raise unprocessable("The payload can be absent or application/fhir+json", "Subscription.channel.payload")
    topic, resource_type, pairs = interest_of(subscription)
    refused = _topic_channel_refusal(subscription) if topic is not None else None
    if refused is not None:
        raise refused
    if topic is None and not identity.unrestricted:  # what a search may not ask, a feed may not either
        refusal = search_refusal(parse_query(resource_type, pairs, strict=True, default_count=1, max_count=1))
        if refusal is not None:
            raise FhirError(403, [error("forbidden", refusal, "Subscription.criteria")])
    if owners.is_service(identity) and not identity.scopes.allows("system", resource_type, "r"):
        needed = f"system/{resource_type}.r"
        raise insufficient_scope(needed, f"A Subscription is sent what its criteria match: {needed} is needed")
    status = subscription.get("status")
    if status == "error" and identity.unrestricted and identity.kind == "system":
        return ValidatedResource("Subscription", subscription, validated.references, validated.sites)
    if status not in ("requested", "active", "off", "error"):  # error, as read back, counts as requested
        raise unprocessable(
            "A client submits a Subscription as requested or off; the server sets active and error",
            "Subscription.status",
        )
    subscription = state.without_server_state(subscription)  # the error shown is the server's
    if status != "off":
        subscription = dict(subscription, status="active")
    return ValidatedResource("Subscription", subscription, validated.references, validated.sites)


@dataclass(frozen=True)
class _Interest:
    subscription_id: str
    resource_type: str
    criteria: list[tuple[str, str]]
    channel: dict[str, Any]
    ends: int | None
    owner: str | None
    """The owning client; None in development mode, where the owner is the development identity."""
    topic: topics.Topic | None = None
    """The topic of a topic-based Subscription (:mod:`.topics`); None for R4 search criteria."""


class SubscriptionNotifier:
    """The last write listener: one outbox row per (active Subscription, matching change its
    owner may see).

    The active Subscriptions are kept per resource type between writes and read again only
    when a Subscription has changed (their count or the sum of their versions moved: every
    create, update and delete moves one, whatever order they commit in), so a write of a type
    nobody subscribes to costs one small query.

    ``development`` (``FHIRBRIDGE_AUTH=off``): every Subscription is the development identity's,
    which sees everything; otherwise one without a recorded owner is sent nothing."""

    def __init__(self, *, development: bool = False) -> None:
        self.development = development
        self._generation: tuple[int, int, int] | None = None
        self._by_type: dict[str, list[_Interest]] = {}

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        gone = [
            e.record.resource_id for e in events if e.action == "delete" and e.record.resource_type == "Subscription"
        ]
        if gone:
            await give_up_owed(unit.conn, gone, unit.now, "the subscription was deleted")
            await topic_events.forget(unit.conn, gone)
        handshakes = handshake.owed_handshakes(events)
        if handshakes:
            await replace_handshakes(unit.conn, [n.subscription_id for n in handshakes], unit.now)
            await enqueue(unit.conn, handshakes, unit.now)
        changed = [e for e in events if e.action != "delete" and e.record.resource_type != "Subscription"]
        if not changed:
            return
        by_type = await self._interests(unit)
        owners_see = _OwnersSight(unit)
        owed = []
        for event in changed:
            record = event.record
            for interest in by_type.get(record.resource_type, []):
                if interest.topic is not None:
                    if not interest.topic.fires(event):
                        continue
                    sees = functools.partial(owners_see, interest)
                    if not await topic_filters.matches(unit, interest.topic.url, interest.criteria, event, sees):
                        continue
                elif not await unit.matches(record.resource_type, interest.criteria, record.resource_id):
                    continue
                if not await owners_see(interest, record):  # what the owner may not see, it is not sent
                    continue
                if interest.topic is not None:  # numbered in this transaction, kept for $events
                    await topic_events.record(unit.conn, interest.subscription_id, interest.topic.url, record, unit.now)
                owed.append(
                    Notification(
                        subscription_id=interest.subscription_id,
                        resource_type=record.resource_type,
                        resource_id=record.resource_id,
                        version=record.version,
                        endpoint=interest.channel["endpoint"],
                        headers=tuple(interest.channel.get("header", [])),
                        payload=interest.channel.get("payload"),
                    )
                )
        if owed:
            await enqueue(unit.conn, owed, unit.now)

    async def _interests(self, unit: UnitOfWork) -> dict[str, list[_Interest]]:
        # Every change to a Subscription adds a version, and is dated later than the last: a
        # state read inside a transaction that then rolled back (its own, or a batch's whose
        # commit failed) is never mistaken for a later one with as many rows and versions.
        row = await unit.conn.fetchrow(
            "SELECT COUNT(*), COALESCE(SUM(version), 0), COALESCE(MAX(last_updated), 0) FROM resources "
            "WHERE res_type = 'Subscription'"
        )
        generation = (int(row[0]), int(row[1]), int(row[2])) if row is not None else (0, 0, 0)
        if generation != self._generation:
            rows = await unit.conn.fetch(
                "SELECT res_id, content FROM resources WHERE res_type = 'Subscription' AND NOT deleted"
            )
            by_type: dict[str, list[_Interest]] = {}
            for subscription_id, content in rows:
                interest = self._interest(subscription_id, loads(content))
                if interest is not None:
                    by_type.setdefault(interest.resource_type, []).append(interest)
            self._by_type, self._generation = by_type, generation
        return {
            resource_type: [i for i in interests if i.ends is None or unit.now < i.ends]
            for resource_type, interests in self._by_type.items()
        }

    def _interest(self, subscription_id: str, subscription: dict[str, Any]) -> _Interest | None:
        """What an active Subscription wants, and for whom; None when it is owed nothing.  A
        topic-based one awaiting its handshake (``requested``) has its events kept already, sent
        once the handshake got through (:mod:`.handshake`)."""
        status = subscription.get("status")
        if status not in LIVE and not (status == "requested" and topics.is_topic_based(subscription)):
            return None
        try:
            topic_url, resource_type, criteria = interest_of(subscription)
        except FhirError:  # stored when its criteria still parsed: it must not fail others' writes
            log.warning("Subscription/%s has criteria this server cannot search; skipped", subscription_id)
            return None
        owner = None if self.development else owners.owner_of(subscription)
        if owner is None and not self.development:
            log.warning("Subscription/%s has no recorded owner; it is sent nothing", subscription_id)
            return None
        ends = first_instant(subscription.get("end"))
        topic = topics.TOPICS.get(topic_url) if topic_url is not None else None
        return _Interest(subscription_id, resource_type, criteria, subscription["channel"], ends, owner, topic)


class _OwnersSight:
    """Whether a Subscription's owner may see a resource version, judged by the access policy on
    the write's own connection, each owner's standing with a patient looked up once per write."""

    def __init__(self, unit: UnitOfWork) -> None:
        self.unit = unit
        self._policy: AccessPolicy | None = None
        self._identities: dict[tuple[str, str], Identity] = {}

    async def __call__(self, interest: _Interest, record: StoredResource) -> bool:
        if interest.owner is None:  # development mode
            return True
        key = (interest.owner, interest.resource_type)
        if key not in self._identities:
            self._identities[key] = owners.owner_identity(*key)
        if self._policy is None:
            self._policy = policy_on(self.unit)
        # an owner who would see only a view without a blocked unit's parts is sent nothing:
        # the criteria matched the stored content, and the payload would be it (ninth review)
        return bool(await self._policy.visible(self._identities[key], [record], "r", whole=True))


def subscription_is_live(subscription: dict[str, Any] | None, now_us: int) -> bool:
    """Whether a stored Subscription still wants notifications: active (or in error, still
    retried: :mod:`.state`) and not past its ``end``."""
    if subscription is None or subscription.get("status") not in LIVE:
        return False
    ends = first_instant(subscription.get("end"))
    return ends is None or now_us < ends

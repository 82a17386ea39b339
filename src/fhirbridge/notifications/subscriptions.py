"""R4 rest-hook Subscriptions: which changes they want, decided inside the write (R4 subscription.html).

A Subscription names its interest as ``criteria``, a search URL (``Communication?recipient=
PractitionerRole/role-karin-lind``).  :class:`SubscriptionNotifier`, the last write listener,
checks every resource the transaction created or updated against every active Subscription of
its type by running the criteria as a search restricted to that resource, in the same
transaction, and records one outbox row per match.  Deletions are not announced: a deleted
resource no longer matches any search.

:func:`activate` is the server's half of the Subscription life cycle: a client submits a
Subscription as ``requested`` (or ``off``), the server checks what it can honour (rest-hook
channel, an endpoint the endpoint rule allows (:mod:`.endpoints`), no payload or
``application/fhir+json``, criteria it can search) and sets it ``active``; what it cannot
honour is refused with an OperationOutcome naming the element.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fhirbridge.errors import FhirError, bad_request, unprocessable
from fhirbridge.fhir.jsonio import loads
from fhirbridge.fhir.resource_types import STORED_TYPES
from fhirbridge.identity import Identity
from fhirbridge.notifications.endpoints import EndpointPolicy, endpoint_refusal
from fhirbridge.notifications.outbox import Notification, enqueue
from fhirbridge.search.dates import first_instant
from fhirbridge.search.query import parse_query
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
PAYLOADS = frozenset({"application/fhir+json", "application/json"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


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


def activate(identity: Identity, validated: ValidatedResource, *, endpoints: EndpointPolicy) -> ValidatedResource:
    """A write enricher (with the deployment's ``endpoints`` rule bound): check a Subscription
    the server is asked to honour and make it active."""
    if validated.resource_type != "Subscription":
        return validated
    subscription = validated.resource
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
    split_criteria(str(subscription.get("criteria", "")))
    status = subscription.get("status")
    if status not in ("requested", "active", "off"):
        raise unprocessable(
            "A client submits a Subscription as requested or off; the server sets active and error",
            "Subscription.status",
        )
    if status == "off":
        return validated
    return ValidatedResource("Subscription", dict(subscription, status="active"), validated.references, validated.sites)


@dataclass(frozen=True)
class _Interest:
    subscription_id: str
    criteria: list[tuple[str, str]]
    channel: dict[str, Any]
    ends: int | None


class SubscriptionNotifier:
    """The last write listener: one outbox row per (active Subscription, matching change).

    The active Subscriptions are kept per resource type between writes and read again only
    when a Subscription has changed (their count or the sum of their versions moved: every
    create, update and delete moves one, whatever order they commit in), so a write of a type
    nobody subscribes to costs one small query."""

    def __init__(self) -> None:
        self._generation: tuple[int, int] | None = None
        self._by_type: dict[str, list[_Interest]] = {}

    async def __call__(self, unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
        changed = [e for e in events if e.action != "delete" and e.record.resource_type != "Subscription"]
        if not changed:
            return
        by_type = await self._interests(unit)
        owed = []
        for event in changed:
            for interest in by_type.get(event.record.resource_type, []):
                if await unit.matches(event.record.resource_type, interest.criteria, event.record.resource_id):
                    owed.append(
                        Notification(
                            subscription_id=interest.subscription_id,
                            resource_type=event.record.resource_type,
                            resource_id=event.record.resource_id,
                            version=event.record.version,
                            endpoint=interest.channel["endpoint"],
                            headers=tuple(interest.channel.get("header", [])),
                            payload=interest.channel.get("payload"),
                        )
                    )
        if owed:
            await enqueue(unit.conn, owed, unit.now)

    async def _interests(self, unit: UnitOfWork) -> dict[str, list[_Interest]]:
        row = await unit.conn.fetchrow(
            "SELECT COUNT(*), COALESCE(SUM(version), 0) FROM resources WHERE res_type = 'Subscription'"
        )
        generation = (int(row[0]), int(row[1])) if row is not None else (0, 0)
        if generation != self._generation:
            rows = await unit.conn.fetch(
                "SELECT res_id, content FROM resources WHERE res_type = 'Subscription' AND NOT deleted"
            )
            by_type: dict[str, list[_Interest]] = {}
            for subscription_id, content in rows:
                subscription = loads(content)
                if subscription.get("status") != "active":
                    continue
                try:
                    resource_type, criteria = split_criteria(str(subscription.get("criteria", "")))
                except FhirError:  # stored when its criteria still parsed: it must not fail others' writes
                    log.warning("Subscription/%s has criteria this server cannot search; skipped", subscription_id)
                    continue
                ends = first_instant(subscription.get("end"))
                interest = _Interest(subscription_id, criteria, subscription["channel"], ends)
                by_type.setdefault(resource_type, []).append(interest)
            self._by_type, self._generation = by_type, generation
        return {
            resource_type: [i for i in interests if i.ends is None or unit.now < i.ends]
            for resource_type, interests in self._by_type.items()
        }


def subscription_is_live(subscription: dict[str, Any] | None, now_us: int) -> bool:
    """Whether a stored Subscription still wants notifications: active and not past its ``end``."""
    if subscription is None or subscription.get("status") != "active":
        return False
    ends = first_instant(subscription.get("end"))
    return ends is None or now_us < ends

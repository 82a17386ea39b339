"""The events of each topic-based Subscription, numbered (Subscriptions Backport IG,
*Notifications*: ``eventsSinceSubscriptionStart`` and ``notification-event.event-number``).

Each event a Subscription's topic fires on is numbered 1, 2, 3 … per Subscription in the write
transaction that caused it, from a counter row that the transaction updates (so concurrent
writers wait for each other's number rather than taking the same one, and a write that rolls
back takes none).  The events are kept, so that a receiver that missed some asks for them again
by number (``$events``).  The counter row also says when the Subscription was last sent anything,
so that a heartbeat goes only after a period without (:func:`heartbeat_due`).  Both go with the
Subscription when it is deleted, so that nobody who later writes a Subscription of that id is
shown them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fhirbridge.storage.database import Connection, Database
from fhirbridge.storage.records import StoredResource


@dataclass(frozen=True)
class TopicEvent:
    """One numbered event: the resource version it is about (its *focus*) and when it happened."""

    number: int
    topic: str
    resource_type: str
    resource_id: str
    version: int
    created: int


async def record(conn: Connection, subscription_id: str, topic: str, focus: StoredResource, now: int) -> int:
    """Number and keep an event in the caller's transaction; returns its number."""
    number = int(
        await conn.fetchval(
            "INSERT INTO subscription_event_counters (subscription_id, last_number, last_sent) VALUES ($1, 1, $2) "
            "ON CONFLICT (subscription_id) DO UPDATE SET last_number = subscription_event_counters.last_number + 1 "
            "RETURNING last_number",
            subscription_id,
            now,
        )
    )
    await conn.execute(
        "INSERT INTO subscription_events (subscription_id, event_number, topic, res_type, res_id, version, created) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        subscription_id,
        number,
        topic,
        focus.resource_type,
        focus.resource_id,
        focus.version,
        now,
    )
    return number


async def count(conn: Connection, subscription_id: str) -> int:
    """How many events the Subscription has had since it started."""
    value = await conn.fetchval(
        "SELECT last_number FROM subscription_event_counters WHERE subscription_id = $1", subscription_id
    )
    return int(value or 0)


async def number_of(
    conn: Connection, subscription_id: str, resource_type: str, resource_id: str, version: int
) -> int | None:
    """The number of the Subscription's event about this resource version, if it had one."""
    value = await conn.fetchval(
        "SELECT MAX(event_number) FROM subscription_events WHERE subscription_id = $1 AND res_type = $2 "
        "AND res_id = $3 AND version = $4",
        subscription_id,
        resource_type,
        resource_id,
        version,
    )
    return None if value is None else int(value)


async def between(conn: Connection, subscription_id: str, first: int, last: int) -> list[TopicEvent]:
    """The Subscription's events numbered ``first`` through ``last``, in order."""
    rows = await conn.fetch(
        "SELECT event_number, topic, res_type, res_id, version, created FROM subscription_events "
        "WHERE subscription_id = $1 AND event_number >= $2 AND event_number <= $3 ORDER BY event_number",
        subscription_id,
        first,
        last,
    )
    return [TopicEvent(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]


async def forget(conn: Connection, subscription_ids: Sequence[str]) -> None:
    """In the caller's transaction, drop the events and the count of deleted Subscriptions."""
    for table in ("subscription_events", "subscription_event_counters"):
        await conn.executemany(f"DELETE FROM {table} WHERE subscription_id = $1", [(i,) for i in subscription_ids])


async def sent(database: Database, subscription_id: str, now: int) -> None:
    """Note that the Subscription was sent something at ``now`` (its handshake too: a heartbeat
    period starts then)."""
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO subscription_event_counters (subscription_id, last_number, last_sent) VALUES ($1, 0, $2) "
            "ON CONFLICT (subscription_id) DO UPDATE SET last_sent = excluded.last_sent",
            subscription_id,
            now,
        )


async def heartbeat_due(database: Database, subscription_id: str, now: int, period_us: int) -> bool:
    """Whether a heartbeat is due, taking it if so (one worker of several takes it): nothing was
    sent for ``period_us``.  A Subscription first seen now starts its period now.  Read first,
    so that a worker's every poll takes no write transaction (SQLite's one writer) for a
    Subscription whose heartbeat is not due."""
    async with database.reader() as conn:
        last_sent = await conn.fetchrow(
            "SELECT last_sent FROM subscription_event_counters WHERE subscription_id = $1", subscription_id
        )
    if last_sent is not None and last_sent[0] is not None and last_sent[0] > now - period_us:
        return False
    async with database.transaction() as conn:
        taken = await conn.fetch(
            "UPDATE subscription_event_counters SET last_sent = $2 WHERE subscription_id = $1 "
            "AND (last_sent IS NULL OR last_sent <= $3) RETURNING subscription_id",
            subscription_id,
            now,
            now - period_us,
        )
        if taken:
            return True
        await conn.execute(
            "INSERT INTO subscription_event_counters (subscription_id, last_number, last_sent) VALUES ($1, 0, $2) "
            "ON CONFLICT (subscription_id) DO NOTHING",
            subscription_id,
            now,
        )
        return False

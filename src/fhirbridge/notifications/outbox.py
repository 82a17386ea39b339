"""The outbox table: notifications owed, claimed by workers, delivered or given up.

Rows are written in the write transaction of the change they announce, so a change that
rolls back owes nothing, and a committed one is not forgotten by a restart.  A row waits while
an older row for the same resource and subscriber is still owed, so a receiver sees one
resource's versions in order even across retries.  Delivered rows are purged by the worker once they are older than
the deployment keeps them (``FHIRBRIDGE_OUTBOX_KEEP_DELIVERED_HOURS``).  Workers claim
due rows with a lease (``next_attempt`` moved into the future); on PostgreSQL ``FOR UPDATE
SKIP LOCKED`` lets several worker processes share the table without taking the same row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from fhirbridge.storage.database import Connection, Database


@dataclass(frozen=True)
class Notification:
    """One notification owed to one Subscription's endpoint about one resource version."""

    subscription_id: str
    resource_type: str
    resource_id: str
    version: int
    endpoint: str
    headers: tuple[str, ...]
    payload: str | None
    pk: int | None = None
    attempts: int = 0
    created: int = 0


_COLUMNS = "pk, subscription_id, res_type, res_id, version, endpoint, headers, payload, attempts, created"


async def enqueue(conn: Connection, notifications: Sequence[Notification], now: int) -> None:
    """Record notifications in the caller's transaction, due at once."""
    await conn.executemany(
        "INSERT INTO outbox (subscription_id, res_type, res_id, version, endpoint, headers, payload, "
        "created, attempts, next_attempt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $8)",
        [
            (
                n.subscription_id,
                n.resource_type,
                n.resource_id,
                n.version,
                n.endpoint,
                json.dumps(n.headers),
                n.payload,
                now,
            )
            for n in notifications
        ],
    )


async def claim_due(database: Database, now: int, lease_us: int, limit: int) -> list[Notification]:
    """Take up to ``limit`` due notifications, leasing them until ``now + lease_us``."""
    skip_locked = " FOR UPDATE OF o SKIP LOCKED" if database.dialect.name == "postgresql" else ""
    async with database.transaction() as conn:
        # Only the oldest owed row of each (subscriber, resource) is a candidate, so one resource's
        # notifications go in the order they were written; the partial index keeps this linear.
        # Nothing goes to a Subscription before its owed handshake (a row about the Subscription
        # itself, notifications/handshake.py) has got through or been given up.
        rows = await conn.fetch(
            "UPDATE outbox SET next_attempt = $2 WHERE pk IN (SELECT o.pk FROM outbox o "
            "JOIN (SELECT MIN(pk) AS first FROM outbox WHERE delivered IS NULL AND failed IS NULL "
            "GROUP BY subscription_id, res_type, res_id) f ON f.first = o.pk "
            "WHERE o.next_attempt <= $1 AND NOT EXISTS (SELECT 1 FROM outbox h WHERE h.subscription_id = "
            "o.subscription_id AND h.res_type = 'Subscription' AND h.delivered IS NULL AND h.failed IS NULL "
            f"AND h.pk < o.pk) ORDER BY o.next_attempt, o.pk LIMIT $3{skip_locked}) "
            f"RETURNING {_COLUMNS}",
            now,
            now + lease_us,
            limit,
        )
    return [
        Notification(
            subscription_id=row[1],
            resource_type=row[2],
            resource_id=row[3],
            version=row[4],
            endpoint=row[5],
            headers=tuple(json.loads(row[6])),
            payload=row[7],
            pk=row[0],
            attempts=row[8],
            created=row[9],
        )
        for row in sorted(rows, key=lambda r: r[0])
    ]


async def mark_delivered(database: Database, pk: int, now: int) -> None:
    async with database.transaction() as conn:
        await conn.execute("UPDATE outbox SET delivered = $2, attempts = attempts + 1 WHERE pk = $1", pk, now)


async def retry_later(database: Database, pk: int, next_attempt: int, error: str) -> None:
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt = $2, last_error = $3 WHERE pk = $1",
            pk,
            next_attempt,
            error[:1000],
        )


async def give_up(database: Database, pk: int, now: int, error: str) -> None:
    async with database.transaction() as conn:
        await conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, failed = $2, last_error = $3 WHERE pk = $1",
            pk,
            now,
            error[:1000],
        )


async def give_up_owed(conn: Connection, subscription_ids: Sequence[str], now: int, reason: str) -> None:
    """In the caller's transaction, give up what is still owed to these Subscriptions."""
    await conn.executemany(
        "UPDATE outbox SET failed = $2, last_error = $3 WHERE subscription_id = $1 "
        "AND delivered IS NULL AND failed IS NULL",
        [(subscription_id, now, reason) for subscription_id in subscription_ids],
    )


async def replace_handshakes(conn: Connection, subscription_ids: Sequence[str], now: int) -> None:
    """In the caller's transaction, give up the handshakes still owed to these Subscriptions (a
    new one is owed instead: their channel changed again)."""
    await conn.executemany(
        "UPDATE outbox SET failed = $2, last_error = 'a newer handshake replaces it' WHERE subscription_id = $1 "
        "AND res_type = 'Subscription' AND delivered IS NULL AND failed IS NULL",
        [(subscription_id, now) for subscription_id in subscription_ids],
    )


async def purge_delivered(database: Database, before: int, limit: int = 1000) -> int:
    """Delete the rows of notifications delivered at or before ``before``, ``limit`` at a time (short
    transactions beside the writers); returns how many.  Rows still owed or given up stay."""
    purged = 0
    while True:
        async with database.transaction() as conn:
            rows = await conn.fetch(
                "DELETE FROM outbox WHERE pk IN (SELECT pk FROM outbox WHERE delivered IS NOT NULL "
                "AND delivered <= $1 ORDER BY pk LIMIT $2) RETURNING pk",
                before,
                limit,
            )
        purged += len(rows)
        if len(rows) < limit:
            return purged


async def pending(database: Database) -> int:
    """How many notifications are still owed (neither delivered nor given up)."""
    async with database.reader() as conn:
        return int(await conn.fetchval("SELECT COUNT(*) FROM outbox WHERE delivered IS NULL AND failed IS NULL"))

"""Delivering the outbox: R4 rest-hook notifications over HTTP, at least once (R4 subscription.html).

Without ``channel.payload`` a notification is a POST with no body to the endpoint; with a
payload (``application/fhir+json``) the resource version is sent as an update, a PUT to
``[endpoint]/[type]/[id]``.  ``channel.header`` entries (``Name: value``) go with each request, and a Subscription that
gave a secret has each request signed (HMAC-SHA256 of the exact body, :mod:`.signing`).

A 2xx answer delivers a notification.  Anything else (an error status, a refused connection,
a timeout) is tried again after a pause that doubles from one second up to five minutes, so a
receiver that is down for an hour gets its notifications within minutes of coming back; after
``max_age`` (three days by default) the notification is given up and its row says why.  A
receiver that keeps failing puts its Subscription in ``error``, with the last error and the next
attempt, until a notification gets through (:mod:`.state`).  The worker also purges delivered
rows once they are older than the deployment keeps them (a day by default).  The
worker runs inside the service by default or on its own (``fhirbridge worker``); several
workers share the outbox safely (see :mod:`.outbox`).

Every request goes through :func:`.egress.checked_client` after the endpoint is judged again by
the rule of this deployment (:mod:`.endpoints`): a refused delivery sends nothing and is
recorded and retried like a failing receiver, so it shows in the log and in the outbox row's
``last_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from fhirbridge.config import Settings
from fhirbridge.failure_log import FailureLog
from fhirbridge.fhir.instants import now_us
from fhirbridge.fhir.jsonio import dumps, loads
from fhirbridge.notifications import handshake, outbox, signing, state, topic_bundles, topic_events, topics
from fhirbridge.notifications.egress import EndpointRefused, checked_client
from fhirbridge.notifications.endpoints import EndpointPolicy, endpoint_refusal
from fhirbridge.notifications.outbox import Notification
from fhirbridge.notifications.subscriptions import subscription_is_live
from fhirbridge.repository import FhirRepository
from fhirbridge.storage import store
from fhirbridge.storage.database import Connection, Database

log = logging.getLogger(__name__)
SECOND = 1_000_000
FIRST_PAUSE = 1 * SECOND
LONGEST_PAUSE = 300 * SECOND
LEASE = 60 * SECOND
TIMEOUT_SECONDS = 10.0
PURGE_EVERY = 60 * SECOND


def pause_after(attempts: int) -> int:
    """Microseconds to wait after the ``attempts``-th failure: 1 s, 2 s, 4 s … at most 5 min."""
    return int(min(FIRST_PAUSE * 2 ** max(attempts - 1, 0), LONGEST_PAUSE))


class OutboxWorker:
    """Sends due notifications; :meth:`deliver_due` is one round, :meth:`run` loops."""

    def __init__(
        self,
        database: Database,
        *,
        max_age_us: int,
        clock: Callable[[], int] = now_us,
        endpoints: EndpointPolicy | None = None,
        batch: int = 20,
        repository: FhirRepository | None = None,
        keep_delivered_us: int = 24 * 3600 * SECOND,
        base_url: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.database = database
        self.base_url = base_url
        """The server's base, for a topic notification's ``fullUrl``s."""
        self.keep_delivered_us = keep_delivered_us
        self._purged_at: int | None = None
        self.repository = repository or FhirRepository(database)
        """Where the worker writes a Subscription's state (:mod:`.state`): the deployment's write
        path, with its listeners (:meth:`for_settings`); a bare one in tests."""
        self.max_age_us = max_age_us
        self.clock = clock
        self.endpoints = endpoints or EndpointPolicy()
        self.client = checked_client(self.endpoints, TIMEOUT_SECONDS, ca_file)
        """Trusting the system's CAs and the deployment's own (``FHIRBRIDGE_NOTIFY_CA_FILE``)."""
        self.batch = batch
        self._heartbeat_generation: tuple[int, int, int] | None = None
        self._heartbeat_subscriptions: list[tuple[str, dict[str, Any], int]] = []

    @classmethod
    def for_settings(cls, database: Database, settings: Settings) -> OutboxWorker:
        """The worker of a deployment: its retry horizon, its endpoint rule and its write path."""
        from fhirbridge.bootstrap import repository_for  # the wiring imports this module's neighbours

        return cls(
            database,
            max_age_us=int(settings.outbox_max_age_hours * 3600 * SECOND),
            endpoints=EndpointPolicy.from_settings(settings),
            repository=repository_for(database, settings).store,
            keep_delivered_us=int(settings.outbox_keep_delivered_hours * 3600 * SECOND),
            base_url=settings.base_url,
            ca_file=settings.notify_ca_file,
        )

    async def deliver_due(self) -> int:
        """Send every notification due now (in batches); returns how many were delivered."""
        delivered = 0
        while True:
            claimed = await outbox.claim_due(self.database, self.clock(), LEASE, self.batch)
            if not claimed:
                return delivered
            results = await asyncio.gather(*(self._deliver(n) for n in claimed))
            delivered += sum(results)
            if len(claimed) < self.batch:
                return delivered

    async def purge_when_due(self) -> int:
        """Purge the delivered rows older than ``keep_delivered_us``, at most once a minute;
        returns how many went."""
        now = self.clock()
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return 0
        self._purged_at = now
        purged = await outbox.purge_delivered(self.database, now - self.keep_delivered_us)
        if purged:
            log.info("purged %d delivered notifications from the outbox", purged)
        return purged

    async def run(self, stop: asyncio.Event, poll_seconds: float) -> None:
        """Deliver until ``stop`` is set, looking for due notifications every ``poll_seconds``."""
        failures = FailureLog(log, "delivering notifications")
        while not stop.is_set():
            try:
                await self.deliver_due()
                await self.heartbeats()
                await self.purge_when_due()
            except Exception as exc:  # a database outage must not end the worker: logged once, tried again
                failures.failed(exc)
            else:
                failures.succeeded()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)

    async def close(self) -> None:
        await self.client.aclose()

    async def _deliver(self, notification: Notification) -> bool:
        assert notification.pk is not None
        subscription = await self._subscription(notification.subscription_id)
        if handshake.is_handshake(notification):
            return await self._shake_hands(notification, subscription)
        if not subscription_is_live(subscription, self.clock()):
            await outbox.give_up(
                self.database, notification.pk, self.clock(), "the subscription was deleted, turned off or ended"
            )
            return False
        assert subscription is not None
        problem, told = await _attempt(self._send(notification, subscription), notification.endpoint)
        now = self.clock()
        if problem is None:
            await outbox.mark_delivered(self.database, notification.pk, now)
            if topics.is_topic_based(subscription):
                await topic_events.sent(self.database, notification.subscription_id, now)
            await self._show(notification.subscription_id, state.recovered(subscription), state.recovered)
            return True
        await self._not_delivered(notification, subscription, "notification", problem, told, now)
        return False

    async def _shake_hands(self, notification: Notification, subscription: dict[str, Any] | None) -> bool:
        """Send a handshake (:mod:`.handshake`): ``active`` when it gets through, ``error`` at once
        when it does not (tried again with the usual pauses)."""
        assert notification.pk is not None
        now = self.clock()
        awaiting = subscription is not None and subscription.get("status") in ("requested", "error")
        if not awaiting or not subscription_is_live(dict(subscription or {}, status="active"), now):
            await outbox.give_up(self.database, notification.pk, now, "the subscription no longer awaits a handshake")
            return False
        assert subscription is not None
        sending = self._send_status(notification.subscription_id, subscription, "handshake")
        problem, told = await _attempt(sending, notification.endpoint)
        now = self.clock()
        if problem is None:  # active before the row is done, so that no event of it is claimed while requested
            await self._show(notification.subscription_id, handshake.shaken(subscription), handshake.shaken)
            await outbox.mark_delivered(self.database, notification.pk, now)
            await topic_events.sent(self.database, notification.subscription_id, now)
            return True
        await self._not_delivered(notification, subscription, "handshake", problem, told, now)
        return False

    async def _not_delivered(
        self, notification: Notification, subscription: dict[str, Any], what: str, problem: str, told: str, now: int
    ) -> None:
        """A failed try: given up once the notification is older than the longest it is tried
        for, else tried again after a pause; the owner sees the Subscription in ``error`` (the
        problem as ``told``, the next try) once :data:`.state.ERROR_AFTER` tries failed, a
        handshake's at once (its Subscription is not active until one gets through)."""
        assert notification.pk is not None
        attempts = notification.attempts + 1
        if now - notification.created >= self.max_age_us:
            log.error("giving up %s %s after %d attempts: %s", what, notification.pk, attempts, problem)
            await outbox.give_up(self.database, notification.pk, now, problem)
            return
        log.warning("%s %s not delivered (%s); trying again later", what, notification.pk, problem)
        next_attempt = now + pause_after(attempts)
        await outbox.retry_later(self.database, notification.pk, next_attempt, problem)
        if what == "handshake" or attempts >= state.ERROR_AFTER:
            change = state.failing(subscription, told, next_attempt, now)
            await self._show(notification.subscription_id, change, state.failing, told, next_attempt, now)

    async def heartbeats(self) -> int:
        """Send a heartbeat (Backport IG, *Notifications*: a ``heartbeat`` Bundle with the status
        alone) to each live topic-based Subscription with a ``backport-heartbeat-period`` that was
        sent nothing for that long; returns how many were sent.  A failed heartbeat is logged
        and not retried: the next one is a period later.

        A poll reads two small things: whether any Subscription changed (:meth:`_heartbeating`
        parses them again only then) and when each heartbeating one was last sent something, in
        one query; only those whose period has passed go on to be taken and sent."""
        heartbeating = await self._heartbeating()
        if not heartbeating:
            return 0
        async with self.database.reader() as conn:
            rows = await conn.fetch("SELECT subscription_id, last_sent FROM subscription_event_counters")
        last_sent = {row[0]: row[1] for row in rows}
        sent = 0
        for subscription_id, subscription, period in heartbeating:
            now = self.clock()
            seen = last_sent.get(subscription_id)
            if seen is not None and seen > now - period * SECOND:
                continue
            if not subscription_is_live(subscription, now):
                continue
            if not await topic_events.heartbeat_due(self.database, subscription_id, now, period * SECOND):
                continue
            try:
                response = await self._send_heartbeat(subscription_id, subscription)
                if not response.is_success:
                    log.warning("Subscription/%s: heartbeat answered HTTP %s", subscription_id, response.status_code)
                sent += response.is_success
            except Exception as exc:
                log.warning("Subscription/%s: heartbeat not sent (%s: %s)", subscription_id, type(exc).__name__, exc)
        return sent

    async def _heartbeating(self) -> list[tuple[str, dict[str, Any], int]]:
        """The topic-based Subscriptions that ask for heartbeats, with their periods (seconds),
        parsed again only when a Subscription changed (their count, the sum of their versions
        or the latest change moved, as :class:`.subscriptions.SubscriptionNotifier` judges)."""
        async with self.database.reader() as conn:
            row = await conn.fetchrow(
                "SELECT COUNT(*), COALESCE(SUM(version), 0), COALESCE(MAX(last_updated), 0) FROM resources "
                "WHERE res_type = 'Subscription'"
            )
            generation = (int(row[0]), int(row[1]), int(row[2])) if row is not None else (0, 0, 0)
            if generation == self._heartbeat_generation:
                return self._heartbeat_subscriptions
            rows = await conn.fetch(
                "SELECT res_id, content FROM resources WHERE res_type = 'Subscription' AND NOT deleted"
            )
        found = []
        for subscription_id, content in rows:
            subscription: dict[str, Any] = loads(content)
            period = topics.heartbeat_seconds(subscription) if topics.is_topic_based(subscription) else None
            if period is not None:
                found.append((subscription_id, subscription, period))
        self._heartbeat_generation, self._heartbeat_subscriptions = generation, found
        return found

    async def _send_heartbeat(self, subscription_id: str, subscription: dict[str, Any]) -> httpx.Response:
        return await self._send_status(subscription_id, subscription, "heartbeat")

    async def _send_status(self, subscription_id: str, subscription: dict[str, Any], kind: str) -> httpx.Response:
        """POST a Bundle holding the SubscriptionStatus alone (a ``heartbeat`` or a ``handshake``), signed."""
        channel = subscription["channel"]
        endpoint = str(channel.get("endpoint", ""))
        refusal = endpoint_refusal(endpoint, self.endpoints)
        if refusal is not None:
            raise EndpointRefused(refusal)
        headers = dict(_header(line) for line in channel.get("header", []) if ":" in line)
        key_id = signing.key_id_of(subscription)
        async with self.database.reader() as conn:
            secret = await signing.secret_of(conn, subscription_id, key_id) if key_id else None
            count = await topic_events.count(conn, subscription_id)
        if key_id is not None and secret is None:
            raise signing.MissingSecret(f"Subscription/{subscription_id} has no secret {key_id!r}")
        body = dumps(topic_bundles.notification_bundle(subscription_id, subscription, kind, count, [], None))
        if secret is not None and key_id is not None:
            headers.update(signing.signature_headers(secret, key_id, self.clock() // SECOND, body))
        headers["Content-Type"] = channel.get("payload") or "application/fhir+json"
        return await self.client.post(endpoint, headers=headers, content=body)

    async def _show(self, subscription_id: str, change: dict[str, Any] | None, *how: Any) -> None:
        """Write the Subscription's state when the snapshot read says it changes (:mod:`.state`);
        a failure to show it is logged, never a reason to deliver again."""
        if change is None:
            return
        try:
            await state.show(self.repository, subscription_id, *how)
        except Exception as exc:
            log.warning("Subscription/%s: its state could not be written (%s)", subscription_id, exc)

    async def _subscription(self, subscription_id: str) -> dict[str, Any] | None:
        async with self.database.reader() as conn:
            record = await store.read_current(conn, "Subscription", subscription_id)
        if record is None or record.content is None:
            return None
        subscription: dict[str, Any] = loads(record.content)
        return subscription

    async def _send(self, notification: Notification, subscription: dict[str, Any]) -> httpx.Response:
        """Send with the subscription's channel as it is now (a rotated token or secret, a moved
        endpoint), signed when it asks for signing (:mod:`.signing`)."""
        channel = subscription["channel"]
        endpoint = str(channel.get("endpoint", notification.endpoint))
        refusal = endpoint_refusal(endpoint, self.endpoints)
        if refusal is not None:
            raise EndpointRefused(refusal)
        headers = dict(_header(line) for line in channel.get("header", []) if ":" in line)
        payload = channel.get("payload")
        key_id = signing.key_id_of(subscription)
        async with self.database.reader() as conn:
            secret = await signing.secret_of(conn, notification.subscription_id, key_id) if key_id else None
            if topics.is_topic_based(subscription):
                body = await self._topic_body(conn, notification, subscription)
            else:
                version = None
                if payload is not None:
                    version = await store.read_version(
                        conn, notification.resource_type, notification.resource_id, notification.version
                    )
                body = (version.content if version else None) or b""
        if key_id is not None and secret is None:  # never unsigned when the owner asked for signing
            raise signing.MissingSecret(f"Subscription/{notification.subscription_id} has no secret {key_id!r}")
        if secret is not None and key_id is not None:
            headers.update(signing.signature_headers(secret, key_id, self.clock() // SECOND, body))
        if topics.is_topic_based(subscription):  # a Bundle, POSTed to the endpoint (Backport IG, Channels)
            headers["Content-Type"] = payload or "application/fhir+json"
            return await self.client.post(endpoint, headers=headers, content=body)
        if payload is None:
            return await self.client.post(endpoint, headers=headers, content=body)
        url = f"{endpoint.rstrip('/')}/{notification.resource_type}/{notification.resource_id}"
        headers["Content-Type"] = payload
        return await self.client.put(url, content=body, headers=headers)

    async def _topic_body(self, conn: Connection, notification: Notification, subscription: dict[str, Any]) -> bytes:
        """The event-notification Bundle of one numbered event (:mod:`.topic_bundles`)."""
        number = await topic_events.number_of(
            conn,
            notification.subscription_id,
            notification.resource_type,
            notification.resource_id,
            notification.version,
        )
        events = await topic_events.between(conn, notification.subscription_id, number, number) if number else []
        focuses = []
        for event in events:
            resource = None
            if topics.payload_content(subscription) == "full-resource":
                version = await store.read_version(conn, event.resource_type, event.resource_id, event.version)
                resource = loads(version.content) if version is not None and version.content else None
            focuses.append(topic_bundles.Focus(event, resource))
        since_start = await topic_events.count(conn, notification.subscription_id)
        bundle = topic_bundles.notification_bundle(
            notification.subscription_id,
            subscription,
            "event-notification",
            number or since_start,
            focuses,
            self.base_url,
        )
        return dumps(bundle)


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


@contextlib.asynccontextmanager
async def running_worker(database: Database, settings: Settings) -> AsyncIterator[OutboxWorker | None]:
    """The delivery worker as a background task for as long as the block runs (when the
    settings ask for it in-process), stopped cleanly at the end."""
    if settings.outbox_worker != "inprocess":
        yield None
        return
    worker = OutboxWorker.for_settings(database, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, settings.outbox_poll_seconds), name="fhirbridge-outbox")
    try:
        yield worker
    finally:
        stop.set()
        await task
        await worker.close()


async def _attempt(sending: Awaitable[httpx.Response], endpoint: str) -> tuple[str | None, str]:
    """Send: the problem (None when the receiver took it: a 2xx) and what the Subscription's
    owner is told of it (:func:`.state.told_owner`: no internals of a failure to connect)."""
    try:
        response = await sending
    except Exception as exc:
        return f"{type(exc).__name__}: {exc} ({endpoint})", state.told_owner(exc, endpoint)
    problem = None if response.is_success else f"HTTP {response.status_code} from {endpoint}"
    return problem, problem or ""

"""A Subscription's state as its owner sees it (R4 subscription.html: ``status`` error and the
``error`` element): ``error`` while its receiver keeps failing, ``active`` again once a
notification gets through.

After :data:`ERROR_AFTER` failed attempts in a row at one notification, the delivery worker
writes a new version of the Subscription with ``status: error``, ``error`` (the last failure:
the HTTP status the receiver answered, or that it could not be reached: :func:`told_owner`)
and the extension :data:`NEXT_ATTEMPT_URL` (``valueInstant``: when the worker tries again).
The notifications stay owed and are retried as before, across restarts (they are outbox rows);
the first one delivered writes ``active`` back and removes both.  A new version is written only
when something the owner sees would change: the status, the error text, or a next attempt
already past; so a receiver down for days adds a version at most once a retry round (every five
minutes at the longest pause), not one per notification.

These are the server's own writes, through the one write path (every listener: the audit
record, the change feed), on the Subscription as it is at that moment (read and locked in the
same transaction, so an owner's concurrent change is never lost).  A client never sets these:
:func:`without_server_state` removes them from what it sends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.fhir.jsonio import loads
from fhirbridge.identity import SYSTEM
from fhirbridge.notifications.signing import MissingSecret
from fhirbridge.storage import store
from fhirbridge.validation.pipeline import validate_resource

if TYPE_CHECKING:
    from fhirbridge.repository import FhirRepository
    from fhirbridge.writes.unit_of_work import UnitOfWork

NEXT_ATTEMPT_URL = f"{CANONICAL_BASE}/StructureDefinition/subscription-next-attempt"
ERROR_AFTER = 3
"""Failed attempts in a row at one notification before the Subscription shows ``error``."""


def told_owner(exc: Exception, endpoint: str) -> str:
    """What the owner is told of a failure that is not an HTTP answer: a kind, never the details
    the outbox row and the log keep.  What an endpoint's name resolves to, and whether the rule
    refused it or nothing answered there, would otherwise make Subscriptions a probe of the care
    network's names and addresses (docs/security.md, *the endpoint rule*)."""
    if isinstance(exc, MissingSecret):
        return f"The signing secret is missing: nothing was sent to {endpoint} unsigned"
    return f"{endpoint} could not be reached, or is not an address this server may call"


def without_server_state(subscription: dict[str, Any]) -> dict[str, Any]:
    """A client's Subscription without ``error`` and the next-attempt extension (the server's)."""
    cleaned = {key: value for key, value in subscription.items() if key != "error"}
    extensions = [e for e in subscription.get("extension", []) if not _next_attempt(e)]
    if extensions:
        cleaned["extension"] = extensions
    else:
        cleaned.pop("extension", None)
    return cleaned


def _next_attempt(extension: Any) -> bool:
    return isinstance(extension, dict) and extension.get("url") == NEXT_ATTEMPT_URL


def instant(us: int) -> str:
    """A FHIR instant (R4 datatypes.html#instant) for microseconds since the epoch, in UTC."""
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def failing(subscription: dict[str, Any], problem: str, next_attempt: int, now: int) -> dict[str, Any] | None:
    """The Subscription in ``error`` with ``problem`` and the next attempt; None when what it
    shows still holds (``error``, the same problem, a next attempt not yet past at ``now``)."""
    shown = next((e.get("valueInstant") for e in subscription.get("extension", []) if _next_attempt(e)), None)
    if (
        subscription.get("status") == "error"
        and subscription.get("error") == problem
        and isinstance(shown, str)
        and shown > instant(now)
    ):
        return None
    changed = without_server_state(subscription)
    extension = {"url": NEXT_ATTEMPT_URL, "valueInstant": instant(next_attempt)}
    return dict(changed, status="error", error=problem, extension=[*changed.get("extension", []), extension])


def recovered(subscription: dict[str, Any]) -> dict[str, Any] | None:
    """The Subscription ``active`` again; None when it was not in ``error``."""
    if subscription.get("status") != "error":
        return None
    return dict(without_server_state(subscription), status="active")


async def show(repository: FhirRepository, subscription_id: str, change: Any, *args: Any) -> None:
    """Write ``change(current, *args)`` as the Subscription's next version, unless it is None,
    or the Subscription is gone or was turned off meanwhile."""

    async def work(unit: UnitOfWork) -> None:
        lock = unit.conn.dialect.lock_for_no_key_update
        current = await store.read_current(unit.conn, "Subscription", subscription_id, lock=lock)
        if current is None or current.deleted or current.content is None:
            return
        subscription = loads(current.content)
        if subscription.get("status") not in ("active", "error", "requested"):  # requested: a handshake owed
            return
        updated = change(subscription, *args)
        if updated is None:
            return
        validated = validate_resource(updated, "Subscription", url_id=subscription_id, local_base=None)
        await unit.update(validated, subscription_id, if_match=current.version)

    await repository.write(SYSTEM, None, work)

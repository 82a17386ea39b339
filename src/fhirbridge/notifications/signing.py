"""Signed notifications: an HMAC-SHA256 (RFC 2104) of every body with the Subscription's own secret.

The owner gives the secret when it creates or changes a Subscription, as an extension of the
channel (R4 extensibility.html)::

    "channel": {"type": "rest-hook", "endpoint": "https://…",
                "extension": [{"url": SECRET_URL, "valueString": "<at least 32 characters>"}]}

The server never stores it in the resource: :func:`take_secret` (a write enricher) replaces it
with an extension :data:`KEY_URL` whose value is a new random key id, and :func:`record_secrets`
(a write listener, in the same transaction) keeps the secret under that id in the table
``subscription_secrets``.  So no read, version, history, search or export shows the secret, not
even to the owner; the key id tells it which secret signs.  A later write that carries the key
id back unchanged keeps the secret (a read-modify-write); one that gives a new secret replaces it
(rotation); one with neither stops signing; a key id the Subscription does not hold is refused.

Every request of a signing Subscription carries three headers (:func:`signature_headers`)::

    X-Fhirbridge-Timestamp: 1765136400                 (Unix seconds when it was sent)
    X-Fhirbridge-Key: 3f0c…                            (the key id)
    X-Fhirbridge-Signature: sha256=<64 hex digits>

where the digits are ``HMAC-SHA256(secret, timestamp + "." + body)`` over the exact bytes of the
body sent (empty for a notification without payload).  A receiver recomputes it, compares in
constant time, and refuses a timestamp more than a few minutes old (a replayed request):
:func:`verify` does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.errors import unprocessable
from fhirbridge.storage.database import Connection
from fhirbridge.validation.pipeline import ValidatedResource
from fhirbridge.writes.events import WriteEvent

if TYPE_CHECKING:
    from fhirbridge.writes.unit_of_work import UnitOfWork

SECRET_URL = f"{CANONICAL_BASE}/StructureDefinition/subscription-signing-secret"
KEY_URL = f"{CANONICAL_BASE}/StructureDefinition/subscription-signing-key"
SIGNATURE_HEADER = "X-Fhirbridge-Signature"
TIMESTAMP_HEADER = "X-Fhirbridge-Timestamp"
KEY_HEADER = "X-Fhirbridge-Key"
SHORTEST_SECRET = 32
LONGEST_SECRET = 256
TOLERANCE_SECONDS = 300


class MissingSecret(Exception):
    """A Subscription signs with a key whose secret is not kept: nothing is sent unsigned."""


_given: WeakKeyDictionary[UnitOfWork, dict[str, str]] = WeakKeyDictionary()
"""Secrets given in a write, by key id, from the enricher to the listener of the same unit."""


def take_secret(unit: UnitOfWork, validated: ValidatedResource) -> ValidatedResource:
    """A write enricher: a Subscription's secret extension replaced by a new key id."""
    if validated.resource_type != "Subscription":
        return validated
    channel = validated.resource.get("channel")
    if not isinstance(channel, dict) or not isinstance(channel.get("extension"), list):
        return validated
    extensions: list[Any] = channel["extension"]
    given = [(i, e) for i, e in enumerate(extensions) if isinstance(e, dict) and e.get("url") == SECRET_URL]
    if not given:
        return validated
    if len(given) > 1:
        raise unprocessable("A Subscription has one signing secret", f"Subscription.channel.extension[{given[1][0]}]")
    index, extension = given[0]
    secret = extension.get("valueString")
    if not isinstance(secret, str) or not SHORTEST_SECRET <= len(secret) <= LONGEST_SECRET or not secret.isascii():
        raise unprocessable(
            f"The signing secret is a valueString of {SHORTEST_SECRET} to {LONGEST_SECRET} ASCII characters",
            f"Subscription.channel.extension[{index}].valueString",
        )
    key_id = secrets.token_hex(16)
    _given.setdefault(unit, {})[key_id] = secret
    kept = [e for e in extensions if not (isinstance(e, dict) and e.get("url") in (SECRET_URL, KEY_URL))]
    channel = dict(channel, extension=[*kept, {"url": KEY_URL, "valueString": key_id}])
    return ValidatedResource(
        "Subscription", dict(validated.resource, channel=channel), validated.references, validated.sites
    )


def key_id_of(subscription: Mapping[str, Any]) -> str | None:
    """The key id a stored Subscription signs with; None when it does not sign."""
    channel = subscription.get("channel")
    for extension in channel.get("extension", []) if isinstance(channel, dict) else []:
        if isinstance(extension, dict) and extension.get("url") == KEY_URL:
            value = extension.get("valueString")
            return value if isinstance(value, str) else ""
    return None


async def record_secrets(unit: UnitOfWork, events: Sequence[WriteEvent]) -> None:
    """A write listener: keep the secrets given, drop those of deleted or unsigned
    Subscriptions, and refuse a key id that is not the Subscription's own."""
    given = _given.pop(unit, {})
    for event in events:
        if event.record.resource_type != "Subscription":
            continue
        subscription_id = event.record.resource_id
        key_id = key_id_of(event.resource) if event.resource is not None else None
        if key_id is None:
            await unit.conn.execute("DELETE FROM subscription_secrets WHERE subscription_id = $1", subscription_id)
        elif key_id in given:
            await unit.conn.execute(
                "INSERT INTO subscription_secrets (subscription_id, key_id, secret) VALUES ($1, $2, $3) "
                "ON CONFLICT (subscription_id) DO UPDATE SET key_id = excluded.key_id, secret = excluded.secret",
                subscription_id,
                key_id,
                given[key_id],
            )
        elif await secret_of(unit.conn, subscription_id, key_id) is None:
            raise unprocessable(
                "This signing key is not this Subscription's: give a new secret or leave the key out",
                "Subscription.channel.extension",
            )


async def secret_of(conn: Connection, subscription_id: str, key_id: str) -> bytes | None:
    """The secret a Subscription signs with under ``key_id``; None when it has no such key."""
    row = await conn.fetchrow(
        "SELECT secret FROM subscription_secrets WHERE subscription_id = $1 AND key_id = $2", subscription_id, key_id
    )
    return str(row[0]).encode() if row is not None else None


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``timestamp.body`` with ``secret``."""
    return "sha256=" + hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_headers(secret: bytes, key_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers that sign one request's ``body``, sent at ``timestamp`` (Unix seconds)."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        KEY_HEADER: key_id,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(secret: bytes, headers: Mapping[str, str], body: bytes, now: int) -> bool:
    """What a receiver checks (``headers`` with lower-case names): the signature is the body's
    with this secret, and it was made at most :data:`TOLERANCE_SECONDS` from ``now``."""
    stamp = headers.get(TIMESTAMP_HEADER.lower(), "")
    if not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, int(stamp), body), headers.get(SIGNATURE_HEADER.lower(), ""))

"""The opaque ``_cursor`` of history's ``next`` links (R4 http.html#paging): where the next page
of a history goes on from, a position in the change feed (:mod:`fhirbridge.storage.feed`).

A cursor names the order it was handed out for and is tied to its history (``_history``,
``CarePlan/_history``, ``CarePlan/1/_history``) by a check value: an edited, cut-off or borrowed
cursor is a 400 naming ``_cursor``, never a page that silently starts somewhere else.  The check
value is not a secret and the cursor is not encrypted: a cursor made by hand can only point into
history the caller may read anyway (each version is judged by the access policy), and cursors stay
valid across restarts and on every instance, which a sync client that resumes next week needs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from fhirbridge.errors import FhirError, bad_request
from fhirbridge.storage.feed import MAX_POSITION_PART, Position

_KEY = b"fhirbridge history cursor 1"
_PAYLOAD = re.compile(r"^([ad])\.(\d{1,19})\.(\d{1,19})\.([0-9a-f]{16})$")
MAX_LENGTH = 96


def _check(scope: str, payload: str) -> str:
    return hmac.new(_KEY, f"{scope}|{payload}".encode(), hashlib.sha256).hexdigest()[:16]


def encode(scope: str, oldest_first: bool, position: Position) -> str:
    """The cursor of the page after ``position`` in the history at ``scope``, in this order."""
    payload = f"{'a' if oldest_first else 'd'}.{position[0]}.{position[1]}"
    token = f"{payload}.{_check(scope, payload)}".encode()
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def _refused(why: str) -> FhirError:
    return bad_request(f"_cursor is not a page this server handed out for this history ({why})", "_cursor")


def decode(scope: str, oldest_first: bool, cursor: str) -> Position:
    """The position a cursor handed out by :func:`encode` names; anything else is a 400."""
    if not cursor or len(cursor) > MAX_LENGTH or not cursor.isascii():
        raise _refused("malformed")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise _refused("malformed") from None
    match = _PAYLOAD.match(text)
    if match is None:
        raise _refused("malformed")
    order, txid, seq, check = match.groups()
    if not hmac.compare_digest(check, _check(scope, text.rsplit(".", 1)[0])):
        raise _refused("altered, or from another history")
    if (order == "a") != oldest_first:
        raise _refused("handed out for the other order: keep _sort as it was")
    position = (int(txid), int(seq))
    if max(position) > MAX_POSITION_PART:
        raise _refused("malformed")
    return position

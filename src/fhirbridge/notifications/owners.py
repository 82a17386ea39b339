"""Who owns a Subscription, and what owning one allows (docs/security.md, *Subscriptions*).

A Subscription makes the server send data out later, on its own, to whoever wrote it; so it is
written by a *service* only (a system token acting for no care unit: the region's integration
engine, the NPÖ platform), and it belongs to the OAuth client that created it.  The server
records that client as a ``meta.tag`` of :data:`OWNER_SYSTEM`, replacing whatever the client
sent there.  Only the owner reads, searches, changes or deletes it: to everyone else it does not
exist: a read, a patch and its operations are 404 as for an id that does not exist, a delete
has nothing to delete, and a search leaves it out.  Nor does a PUT create a Subscription
(R4 http.html#update: 405, the server does not allow client-defined ids for it): a PUT that
would create one with an id of the client's choosing could not, were the id another's, answer
as it does for a free id (security review 21).  Its channel (the endpoint,
the headers with their credentials) is thus the owner's alone.  What it is sent is judged by the
access policy as its owner (:func:`owner_identity`), inside the write that changes the data
(:mod:`.subscriptions`).

The server's own writes (``fhirbridge load``, ``db repair``) keep the owner a Subscription
carries.  In development mode every caller is the development identity, which owns every
Subscription: none is recorded, and nothing is held back.  Outside development mode a
Subscription without a recorded owner (written before owners were) is nobody's: no token sees
it and it is sent nothing.
"""

from __future__ import annotations

from typing import Any

from fhirbridge.auth.scopes import Grant, Scopes
from fhirbridge.contract.codes import CANONICAL_BASE
from fhirbridge.errors import FhirError, Issue
from fhirbridge.identity import Identity
from fhirbridge.search.query import SearchQuery, with_clause
from fhirbridge.storage.records import StoredResource

OWNER_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/subscription-owner"
"""The tag system whose code is the owning client's id (``client_id``, or ``azp``, of its token)."""
NOT_BY_PUT = (
    "A PUT changes a Subscription of yours that exists; a new Subscription is created by POST, and its id is "
    "assigned by the server"
)
NO_CLIENT = "A Subscription belongs to the client that creates it, and this token names no client (client_id)"


def is_service(identity: Identity) -> bool:
    """A system token acting for no unit: scopes and blocks apply to it, care relations do not."""
    return identity.kind == "system" and identity.on_behalf_of is None and not identity.unrestricted


def owner_of(subscription: dict[str, Any]) -> str | None:
    """The client id recorded as the Subscription's owner, if any."""
    tags = (subscription.get("meta") or {}).get("tag")
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, dict) and tag.get("system") == OWNER_SYSTEM and isinstance(tag.get("code"), str):
            code: str = tag["code"]
            return code
    return None


def holds(identity: Identity, subscription: dict[str, Any]) -> bool:
    """Whether the caller may see the Subscription: only its owner (and unrestricted identities)."""
    if identity.unrestricted:
        return True
    return is_service(identity) and identity.client_id is not None and owner_of(subscription) == identity.client_id


def write_refusal(identity: Identity, stored: dict[str, Any] | None) -> str | None:
    """Why the caller may not create, change or delete a Subscription (``stored`` is its current
    content, None when there is none); None when it may."""
    if identity.unrestricted:
        return None
    if not is_service(identity):
        return "Only a service (a system token acting for no care unit) may create or change Subscriptions"
    if identity.client_id is None:
        return NO_CLIENT
    if stored is not None and owner_of(stored) != identity.client_id:
        return "This Subscription belongs to another client; only that client may change or delete it"
    return None


def update_refusal(identity: Identity, previous: StoredResource | None, stored: dict[str, Any] | None) -> str | None:
    """Why a PUT (or a patch, written as one) may not write this Subscription: unless it
    replaces a live Subscription of the caller's, it would create one with an id of the
    client's choosing, which a restricted caller may not (R4 http.html#update, 405); the same
    answer whether the id is free, deleted, or another client's.  None when it may."""
    if identity.unrestricted:
        return None
    if previous is None or previous.deleted or stored is None or not holds(identity, stored):
        return NOT_BY_PUT
    return None


def with_owner(identity: Identity, subscription: dict[str, Any]) -> dict[str, Any]:
    """The Subscription as it is stored: its owner tag set to the writing service's client id,
    kept when the server itself writes, and removed in development mode."""
    if identity.unrestricted and identity.kind == "system":
        return subscription
    tags = (subscription.get("meta") or {}).get("tag")
    kept = [t for t in (tags if isinstance(tags, list) else []) if not _owner_tag(t)]
    if is_service(identity) and identity.client_id is not None:
        kept.append({"system": OWNER_SYSTEM, "code": identity.client_id})
    meta = {key: value for key, value in (subscription.get("meta") or {}).items() if key != "tag"}
    if kept:
        meta["tag"] = kept
    owned = {key: value for key, value in subscription.items() if key != "meta"}
    return {**owned, "meta": meta} if meta else owned


def _owner_tag(tag: Any) -> bool:
    return isinstance(tag, dict) and tag.get("system") == OWNER_SYSTEM


def only_own(identity: Identity, query: SearchQuery) -> SearchQuery:
    """A service's search of Subscriptions, kept to its own (so that its total counts only those);
    other callers see none anyway (:func:`holds`).  A service whose token names no client owns
    none, and is refused rather than told how many there are."""
    if not is_service(identity):
        return query
    if identity.client_id is None:
        raise FhirError(403, [Issue("error", "forbidden", NO_CLIENT)])
    code = identity.client_id.replace(",", "\\,")  # a comma would start another value
    return with_clause(query, "_tag", f"{OWNER_SYSTEM}|{code}")


def owner_identity(owner: str, resource_type: str) -> Identity:
    """The owner as the access policy judges what it is sent: a service with that client id,
    allowed to read the type its criteria search (the scope checked when it subscribed)."""
    grant = Grant("system", resource_type, frozenset("r"))
    return Identity("system", owner, None, Scopes((grant,), f"system/{resource_type}.r"), owner)

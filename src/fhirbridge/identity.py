"""Who is asking: the identity that travels with every request into storage and search.

An identity comes from a verified access token (:mod:`fhirbridge.auth.tokens`), or is
:data:`DEVELOPER` when authentication is switched off for development, or :data:`SYSTEM` for
the server's own work.  Storage and search take it on every call, and the access policy
(:mod:`fhirbridge.access.policy`) filters each read, search, include, history, write and
adapter answer by it in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fhirbridge.auth.scopes import ALL_SCOPES, Scopes

IdentityKind = Literal["anonymous", "system", "user", "patient"]


@dataclass(frozen=True)
class Identity:
    """The caller of one request.

    ``subject`` is the person as a FHIR reference (``Practitioner/…``, ``Patient/…``,
    ``RelatedPerson/…``: the token's ``fhirUser``) or, for a system, its client id;
    ``on_behalf_of`` the organisation (care unit) the caller acts for; ``patient`` the patient
    in context of a patient-scoped token (SMART launch context).  ``unrestricted`` identities
    (the server itself, development mode) pass every access rule.
    """

    kind: IdentityKind
    subject: str | None = None
    on_behalf_of: str | None = None
    scopes: Scopes = field(default_factory=Scopes)
    client_id: str | None = None
    patient: str | None = None
    unrestricted: bool = False
    claimed_provenance: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    """The client's own account of the change, an ``X-Provenance`` Provenance (R4
    http.html#provenance): with a token only its activity and reason are kept, the agent is the
    token's; in development mode the whole claim is recorded."""
    operation: str | None = field(default=None, compare=False, hash=False)
    """The operation the caller's writes are part of (``merge``): some changes are made only by
    an operation that keeps them consistent (a Patient's numbers and links move in a merge)."""
    decisions: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    """Per-request memory of the access policy (one patient's care relation is looked up once)."""

    @property
    def is_relative(self) -> bool:
        return self.kind == "patient" and (self.subject or "").startswith("RelatedPerson/")


ANONYMOUS = Identity(kind="anonymous")
"""A caller without a token: may read nothing but the server's public documents."""
SYSTEM = Identity(kind="system", subject="fhirbridge", scopes=ALL_SCOPES, unrestricted=True)
"""The server itself (migrations, demo data, audit, notifications)."""
DEVELOPER = Identity(kind="anonymous", subject="developer", scopes=ALL_SCOPES, unrestricted=True)
"""Every caller when authentication is off (``FHIRBRIDGE_AUTH=off``): development only."""

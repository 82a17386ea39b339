"""Who is asking: the identity that travels with every request into storage and search.

Until authentication exists (issue 6) every request carries :data:`ANONYMOUS`.  Storage and
search take an :class:`Identity` on every call so that SMART scopes and the Patient Data
Act's consent and blocking rules can later filter each read, search, include and adapter
answer in one place, and so that writes can record who made them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

IdentityKind = Literal["anonymous", "system", "user", "patient"]


@dataclass(frozen=True)
class Identity:
    """The caller of one request.

    ``subject`` is a FHIR reference (``Practitioner/…``) or a client id; ``on_behalf_of`` the
    organisation (unit) the caller acts for; ``scopes`` the granted SMART scopes.
    """

    kind: IdentityKind
    subject: str | None = None
    on_behalf_of: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    client_id: str | None = None
    claimed_provenance: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    """The client's own account of itself, an ``X-Provenance`` Provenance (R4 http.html#provenance),
    recorded with its writes until authentication replaces it (issue 6)."""


ANONYMOUS = Identity(kind="anonymous")
SYSTEM = Identity(kind="system", subject="fhirbridge", scopes=frozenset({"system/*.cruds"}))

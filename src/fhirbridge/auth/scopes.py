"""SMART on FHIR scopes: what a token lets its holder do to which resource types.

SMART App Launch 2.0 (scopes-and-launch-context.html): ``context/Type.permissions`` where the
context is ``patient``, ``user`` or ``system``, the type a resource type or ``*``, and the
permissions a subset of ``cruds`` in that order (create, read, update, delete, search).  The
version 1 forms ``.read`` (= ``rs``), ``.write`` (= ``cud``) and ``.*`` (= ``cruds``) are
accepted too.  A v2 scope narrowed by a query (``patient/Observation.rs?category=…``) grants
nothing here: refusing is the safe reading of a restriction we do not evaluate.  Other scopes
(``openid``, ``fhirUser``, ``launch/patient``, ``offline_access``) grant no data access.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Context = Literal["patient", "user", "system"]
Permission = Literal["c", "r", "u", "d", "s"]
_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True)
class Grant:
    context: Context
    resource_type: str
    """A resource type, or ``*`` for all."""
    permissions: frozenset[str]


@dataclass(frozen=True)
class Scopes:
    """The data-access grants of one token (the ``scope`` claim, parsed)."""

    grants: tuple[Grant, ...] = ()
    text: str = ""

    @classmethod
    def parse(cls, scope: str) -> Scopes:
        grants = []
        for token in scope.split():
            match = _SCOPE.match(token)
            if match is None or not match.group(3):
                continue
            context, resource_type, permissions = match.groups()
            grants.append(Grant(context, resource_type, frozenset(_V1.get(permissions, permissions))))  # type: ignore[arg-type]
        return cls(tuple(grants), scope)

    def contexts(self) -> set[str]:
        return {grant.context for grant in self.grants}

    def allows(self, context: Context, resource_type: str, permission: Permission) -> bool:
        """Whether a grant in ``context`` lets its holder ``permission`` on ``resource_type``."""
        return any(
            grant.context == context and grant.resource_type in ("*", resource_type) and permission in grant.permissions
            for grant in self.grants
        )

    def only(self, context: Context) -> Scopes:
        """The grants of one context (a patient token's system scopes count for nothing)."""
        return Scopes(tuple(g for g in self.grants if g.context == context), self.text)


ALL_SCOPES = Scopes(tuple(Grant(c, "*", frozenset("cruds")) for c in ("patient", "user", "system")), "*")
"""Every permission: the server itself, and development mode."""

INTERACTION_PERMISSION: dict[str, Permission] = {
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "search-type": "s",
    "search-system": "s",
    "history-type": "s",
    "history-system": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
}
"""The permission each R4 interaction needs (SMART v2: history of one resource is a read)."""

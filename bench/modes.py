"""How the service under test is run: in production mode (the default) or development mode.

* **production**: as regions deploy it. ``FHIRBRIDGE_AUTH=jwt`` with the benchmark's own
  token issuer (:class:`Issuer`: an RSA key made for this run, its JWKS in a file that the
  service reads as it would an identity provider's), so every request carries
  ``Authorization: Bearer …``: the signature and claims are checked, the access policy
  decides with the caller's identity, and the access log is written.
* **development**: ``FHIRBRIDGE_AUTH=off``, no token sent; every caller may do everything.
  The access log is written here too (it is in every mode).

Both are unthrottled (``FHIRBRIDGE_RATE_LIMIT_PER_SECOND=0``, set by :mod:`bench.server`):
the load generator is one client sending thousands of requests a second.

The callers a scenario names (:class:`bench.loadgen.Request`):

* :data:`READER`, a system with ``system/*.rs`` and no unit (a reading integration: NPÖ, a
  journal system), which the policy lets through as a trusted service;
* :data:`INTEGRATION`, the region's integration engine with ``system/*.cruds`` and no unit,
  which writes a new patient's first care team and contract;
* ``PractitionerRole/<id>``: a user, that role's practitioner acting for the role's unit
  (``fhirUser=Practitioner/…``, ``organization=Organization/…``, ``user/*.cruds``).  The
  scenarios name a contract's author, whose role is on the patient's care team in both
  seeders: the user has a care relation with the patient, looked up on every request.

Tokens are minted for each run and expire an hour later (:data:`TOKEN_SECONDS`), so none
expires while it is used however long the benchmark as a whole takes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from fhirbridge.demo.generator import clinicians

MODES = ("production", "development")
ISSUER = "https://idp.bench.invalid/realms/fhirbridge-bench"
AUDIENCE = "https://fhirbridge.bench.invalid/fhir"
ALGORITHM = "RS256"
TOKEN_SECONDS = 3600
READER = "reader"
INTEGRATION = "integration"
SYSTEM_SCOPES = {READER: "system/*.rs", INTEGRATION: "system/*.cruds"}
USER_SCOPE = "user/*.cruds"


def _role_claims() -> dict[str, dict[str, str]]:
    """For every seeded PractitionerRole, the claims of its practitioner acting for its unit."""
    return {
        f"PractitionerRole/{role['id']}": {
            "fhirUser": role["practitioner"]["reference"],
            "organization": role["organization"]["reference"],
        }
        for role in clinicians()
        if role["resourceType"] == "PractitionerRole"
    }


class Issuer:
    """A token issuer of the benchmark's own: an RSA key, its JWKS in ``folder``, and tokens."""

    def __init__(self, folder: Path) -> None:
        self.kid = f"bench-{uuid.uuid4().hex[:8]}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = folder / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [{**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}))
        self.roles = _role_claims()

    def environment(self) -> dict[str, str]:
        """What the service is told to trust this issuer."""
        return {
            "FHIRBRIDGE_AUTH": "jwt",
            "FHIRBRIDGE_AUTH_ISSUERS": json.dumps([{"issuer": ISSUER, "jwks": str(self.jwks)}]),
            "FHIRBRIDGE_AUTH_AUDIENCE": json.dumps([AUDIENCE]),
        }

    def claims(self, caller: str) -> dict[str, str]:
        """The claims that make the token the caller's, beyond the registered ones."""
        if caller in SYSTEM_SCOPES:
            return {"scope": SYSTEM_SCOPES[caller], "client_id": f"bench-{caller}"}
        if caller in self.roles:
            return {"scope": USER_SCOPE, "client_id": "bench-journal", **self.roles[caller]}
        raise ValueError(f"no token for caller {caller!r}: not a system caller nor a seeded PractitionerRole")

    def token(self, caller: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": caller,
            "iat": now,
            "exp": now + TOKEN_SECONDS,
            "jti": str(uuid.uuid4()),
            **self.claims(caller),
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})


@dataclass(frozen=True)
class Mode:
    """A way to run the service: its environment, and the token each caller sends (none when
    ``issuer`` is None)."""

    name: str
    environment: dict[str, str] = field(default_factory=dict)
    issuer: Issuer | None = None

    def credentials(self, callers: Iterable[str]) -> dict[str, str]:
        """The ``Authorization`` header line of each caller, freshly minted."""
        if self.issuer is None:
            return {}
        return {caller: f"Authorization: Bearer {self.issuer.token(caller)}\r\n" for caller in callers}


def mode(name: str, issuer: Issuer) -> Mode:
    if name == "production":
        return Mode(name, issuer.environment(), issuer)
    if name == "development":
        return Mode(name, {"FHIRBRIDGE_AUTH": "off"})
    raise ValueError(f"unknown mode {name!r}; use {' or '.join(MODES)}")

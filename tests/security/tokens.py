"""Real signing keys and tokens for the security tests: generated here, never stored."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhirbridge.config import Settings, TrustedIssuer

ISSUER = "https://idp.region.test/realms/vard"
AUDIENCE = "http://fhirbridge.test/fhir"


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.RSAAlgorithm if self.algorithm == "RS256" else jwt.algorithms.ECAlgorithm
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}


def rsa_key(kid: str = "rsa-1") -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str = "ec-1") -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}


def write_jwks(path: Path, *keys: SigningKey) -> Path:
    path.write_text(json.dumps(jwks(*keys)))
    return path


NULL: Any = object()
"""A claim value sent as JSON null (None removes the claim)."""


def mint(key: SigningKey, *, header_kid: str | None = None, **claims: Any) -> str:
    """A signed access token; ``claims`` override sensible defaults (None removes a claim,
    :data:`NULL` sends it as null)."""
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "subject-1",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "client_id": "test-client",
    }
    body.update(claims)
    body = {name: None if value is NULL else value for name, value in body.items() if value is not None}
    return jwt.encode(body, key.private, algorithm=key.algorithm, headers={"kid": header_kid or key.kid})


def trusting(folder: Path, key: SigningKey) -> dict[str, str]:
    """The environment of a ``fhirbridge serve`` process that trusts ``key`` (its JWKS written
    into ``folder``) as the region's identity provider, for tokens with :data:`AUDIENCE`."""
    jwks = write_jwks(folder / "jwks.json", key)
    return {
        "FHIRBRIDGE_AUTH": "jwt",
        "FHIRBRIDGE_AUTH_ISSUERS": json.dumps([{"issuer": ISSUER, "jwks": str(jwks)}]),
        "FHIRBRIDGE_AUTH_AUDIENCE": json.dumps([AUDIENCE]),
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def production_settings(database_url: str, jwks: Path, **changes: Any) -> Settings:
    """Production mode as a region runs it: every request needs a token from the test issuer
    (``jwks``), the access policy and the access log on; no rate limit, no outbox worker, no
    migration at start (the suite's database is migrated).  ``changes`` set other fields."""
    production: dict[str, Any] = {
        "database_url": database_url,
        "auto_migrate": False,
        "outbox_worker": "off",
        "auth": "jwt",
        "auth_issuers": [TrustedIssuer(issuer=ISSUER, jwks=str(jwks))],
        "auth_audience": [AUDIENCE],
        "audit_flush_seconds": 30,
        "rate_limit_per_second": 0,
    }
    return Settings(**(production | changes))

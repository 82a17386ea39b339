"""Bearer access tokens: verified JWTs (RFC 7519, RFC 6750) turned into an :class:`Identity`.

A token is accepted when its issuer is one of ``auth_issuers``, it is signed (RS256 or ES256,
RFC 7518 §3.3/§3.4) by one of that issuer's current keys, its ``aud`` names this server, and
``exp`` (required), ``nbf`` and ``iat`` are numbers (NumericDate, RFC 7519 §2) and hold within
the configured clock skew.  Everything else is a 401 whose ``WWW-Authenticate`` says why
(RFC 6750 §3).

The claims read, beyond the registered ones: ``scope`` (SMART scopes; ``scp`` too),
``client_id`` (or ``azp``), ``fhirUser`` (the person: Practitioner, PractitionerRole, Patient
or RelatedPerson), ``patient`` (the patient in context, SMART launch context) and
``organization`` (the care unit the caller acts for, an Organization reference: our own claim,
documented in docs/security.md).  A ``fhirUser``, ``organization`` or ``patient`` claim that is
present must be well formed (``fhirUser`` a person on this server): a token that says who its
caller is in a way we cannot read is refused, never taken for a system's.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from fhirbridge.auth.jwks import SIGNING_ALGORITHMS, KeySet
from fhirbridge.auth.scopes import Scopes
from fhirbridge.config import Settings
from fhirbridge.errors import FhirError, Issue
from fhirbridge.fhir.references import is_valid_id, parse_reference
from fhirbridge.identity import Identity

REALM = "fhirbridge"
PERSON_TYPES = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson")
TIME_CLAIMS = ("exp", "nbf", "iat")
VERIFIED_KEPT = 10_000
"""Verified tokens remembered at most (the least recently used are forgotten first)."""


@dataclass(frozen=True)
class _Verified:
    """A token whose signature verified: its claims, until when they hold, and by which keys."""

    claims: dict[str, Any]
    issuer: str
    generation: int
    valid_from: float
    valid_until: float
    """``exp`` plus the clock skew: as PyJWT judges it, the token holds while now is before."""


def unauthenticated(description: str | None = None) -> FhirError:
    """401 with the RFC 6750 §3 challenge: no error code when no token came at all."""
    challenge = f'Bearer realm="{REALM}"'
    if description is not None:
        challenge += f', error="invalid_token", error_description="{description}"'
    message = f"The access token is refused: {description}" if description else "This needs a bearer access token"
    return FhirError(401, [Issue("error", "login", message)], {"WWW-Authenticate": challenge})


def insufficient_scope(needed: str, message: str) -> FhirError:
    """403 for a valid token without the scope an interaction needs (RFC 6750 §3.1)."""
    challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"'
    return FhirError(403, [Issue("error", "forbidden", message)], {"WWW-Authenticate": challenge})


class TokenVerifier:
    """Verifies bearer tokens against the configured issuers."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.key_sets = {
            trusted.issuer: KeySet(trusted.jwks, settings.auth_jwks_cache_seconds, http)
            for trusted in settings.auth_issuers
        }
        self._verified: OrderedDict[tuple[str, tuple[str, ...]], _Verified] = OrderedDict()

    async def claims(self, authorization: str | None, audiences: list[str]) -> dict[str, Any]:
        """The verified claims of an ``Authorization`` header's bearer token, or a 401."""
        if not authorization:
            raise unauthenticated()
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("not a bearer token")
        return await self.verify(token.strip(), audiences)

    def identity(self, claims: dict[str, Any], audiences: list[str]) -> Identity:
        """Who verified ``claims`` speak for (a 401 when they say it in a way we cannot read)."""
        base = self.settings.base_url
        return identity_from_claims(claims, servers=[*audiences, *([base] if base else [])])

    async def verify(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """The claims of ``token`` once its signature, issuer, audience and times hold.

        A token seen before is not verified again while its times hold and its issuer's keys
        are the ones that verified it (a removed or rotated key makes it verified afresh): the
        same bytes verify the same way, and checking a signature costs more than the rest of
        a read's authentication (RS256 on every request)."""
        key = (token, tuple(audiences))
        seen = self._verified.get(key)
        if seen is not None:
            now = time.time()
            key_set = self.key_sets.get(seen.issuer)
            if (
                seen.valid_from <= now < seen.valid_until
                and key_set is not None
                and await key_set.current_generation() == seen.generation
            ):
                if key in self._verified:
                    self._verified.move_to_end(key)
                return dict(seen.claims)
            self._verified.pop(key, None)
        claims, generation = await self._verify(token, audiences)
        leeway = self.settings.auth_clock_skew_seconds
        starts = [int(claims[name]) for name in ("nbf", "iat") if name in claims]  # as PyJWT reads them
        self._verified[key] = _Verified(
            dict(claims),
            claims["iss"],
            generation,
            float(max(starts) - leeway) if starts else float("-inf"),
            int(claims["exp"]) + leeway,
        )
        if len(self._verified) > VERIFIED_KEPT:
            self._verified.popitem(last=False)
        return claims

    async def _verify(self, token: str, audiences: list[str]) -> tuple[dict[str, Any], int]:
        """The verified claims, and the generation of the issuer's keys before they were read
        (a refresh meanwhile makes the next use verify again: never a newer mark than the keys)."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise unauthenticated("not a well-formed JWT") from None
        for claim in TIME_CLAIMS:
            if claim in unverified and not _is_numeric_date(unverified[claim]):
                raise unauthenticated(f"the {claim} claim is not a NumericDate (a number of seconds)")
        algorithm = header.get("alg")
        if algorithm not in SIGNING_ALGORITHMS:
            raise unauthenticated(f"signature algorithm {algorithm!r} is not accepted (RS256, ES256)")
        issuer = unverified.get("iss")
        key_set = self.key_sets.get(issuer) if isinstance(issuer, str) else None
        if key_set is None:
            raise unauthenticated("the issuer is not trusted")
        kid = header.get("kid")
        generation = key_set.generation
        keys = await key_set.candidates(kid if isinstance(kid, str) else None, algorithm)
        if not keys:
            raise unauthenticated("no signing key of the issuer matches")
        problem = "the signature does not verify"
        for key in keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key=key.key,
                    algorithms=[algorithm],
                    audience=audiences,
                    issuer=issuer,
                    leeway=self.settings.auth_clock_skew_seconds,
                    options={"require": ["exp", "iss", "aud", "sub"]},
                )
                return claims, generation
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise unauthenticated("the token has expired") from None
            except jwt.ImmatureSignatureError:
                raise unauthenticated("the token is not valid yet") from None
            except jwt.InvalidAudienceError:
                raise unauthenticated("the token is not meant for this server (aud)") from None
            except jwt.MissingRequiredClaimError as missing:
                raise unauthenticated(f"the token has no {missing.claim} claim") from None
            except jwt.PyJWTError as exc:
                problem = _plain(exc)
        raise unauthenticated(problem)


def _plain(exc: Exception) -> str:
    return str(exc).replace('"', "'")[:200] or type(exc).__name__


def _is_numeric_date(value: Any) -> bool:
    """A JSON number (RFC 7519 §2 NumericDate): not a string, boolean, null, list, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _reference(claims: dict[str, Any], claim: str, types: tuple[str, ...], servers: Iterable[str]) -> str | None:
    """``Type/id`` from a relative reference of one of ``types``, or an absolute one on this
    server (one of ``servers``); None without the claim; a 401 when it is anything else."""
    if claim not in claims:
        return None
    value = claims[claim]
    parsed = parse_reference(value) if isinstance(value, str) else None
    ours = parsed is not None and (
        parsed.kind == "local" or (parsed.kind == "absolute" and parsed.base in {s.rstrip("/") for s in servers})
    )
    if parsed is None or not ours or parsed.resource_type not in types or parsed.version is not None:
        raise unauthenticated(f"the {claim} claim is not a reference to a {' or '.join(types)} of this server")
    return f"{parsed.resource_type}/{parsed.resource_id}"


def _unit(claims: dict[str, Any], servers: Iterable[str]) -> str | None:
    """The ``organization`` claim: an Organization reference, or the bare id of one."""
    organization = claims.get("organization")
    if isinstance(organization, str) and is_valid_id(organization):
        return f"Organization/{organization}"
    return _reference(claims, "organization", ("Organization",), servers)


def _patient(claims: dict[str, Any]) -> str | None:
    """The ``patient`` claim (SMART launch context): a Patient's id."""
    patient = claims.get("patient")
    if "patient" in claims and not (isinstance(patient, str) and is_valid_id(patient)):
        raise unauthenticated("the patient claim is not the id of a Patient")
    return patient


def identity_from_claims(claims: dict[str, Any], servers: Iterable[str] = ()) -> Identity:
    """Who the verified token speaks for: a patient (or their relative), a user, or a system.
    ``servers`` are the absolute bases (``https://fhir.region.se/fhir``) that are this server."""
    scope = claims.get("scope", claims.get("scp", ""))
    scopes = Scopes.parse(" ".join(scope) if isinstance(scope, list) else str(scope))
    client_id = claims.get("client_id") or claims.get("azp")
    servers = list(servers)
    person = _reference(claims, "fhirUser", PERSON_TYPES, servers)
    unit = _unit(claims, servers)
    patient = _patient(claims)
    client = str(client_id) if client_id else None
    if person is not None and person.startswith(("Patient/", "RelatedPerson/")):
        if person.startswith("Patient/"):
            patient = person.removeprefix("Patient/")
        return Identity("patient", person, unit, scopes.only("patient"), client, patient)
    if person is not None:
        return Identity("user", person, unit, scopes.only("user"), client)
    if patient is not None and "patient" in scopes.contexts():
        return Identity("patient", f"Patient/{patient}", unit, scopes.only("patient"), client, patient)
    return Identity("system", client or str(claims["sub"]), unit, scopes.only("system"), client)

"""The server's SMART configuration and what it says about authentication at start.

``GET [base]/.well-known/smart-configuration`` (SMART App Launch 2.0,
conformance.html#using-well-known) tells a client where to get a token and which scopes and
capabilities this server understands.  The authorization server is not part of fhirbridge:
the endpoints published are the configured ones of the region's identity provider.
"""

from __future__ import annotations

import logging
from typing import Any

from fhirbridge.config import ConfigurationError, Settings

log = logging.getLogger("fhirbridge")
SCOPES_SUPPORTED = (
    "openid",
    "fhirUser",
    "launch/patient",
    "offline_access",
    "patient/*.rs",
    "patient/*.cruds",
    "patient/*.read",
    "user/*.rs",
    "user/*.cruds",
    "user/*.read",
    "user/*.write",
    "system/*.rs",
    "system/*.cruds",
    "system/*.read",
    "system/*.write",
)
CAPABILITIES = (
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-standalone-patient",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
)


class AuthenticationSettingsError(ConfigurationError, ValueError):
    """The service cannot run safely with these settings."""


def check_authentication_settings(settings: Settings) -> None:
    """Refuse to start with authentication on but nobody to trust."""
    if settings.auth == "jwt" and not settings.auth_issuers:
        raise AuthenticationSettingsError(
            "FHIRBRIDGE_AUTH=jwt needs at least one trusted token issuer: set FHIRBRIDGE_AUTH_ISSUERS to "
            '[{"issuer": "https://idp.example/realm", "jwks": "https://idp.example/realm/jwks"}], '
            "or FHIRBRIDGE_AUTH=off for local development only"
        )
    if settings.auth == "jwt" and not (settings.auth_audience or settings.base_url):
        raise AuthenticationSettingsError(
            "FHIRBRIDGE_AUTH=jwt needs the tokens' audience: set FHIRBRIDGE_BASE_URL (the public …/fhir "
            "address) or FHIRBRIDGE_AUTH_AUDIENCE; it is never taken from a request's Host header"
        )


def announce_authentication(settings: Settings) -> None:
    if settings.auth == "off":
        banner = "!" * 78
        log.warning(banner)
        log.warning("AUTHENTICATION IS OFF (FHIRBRIDGE_AUTH=off): anyone who can reach this port can read")
        log.warning("and change every patient's data. For development with demo data only; never with")
        log.warning("real patients. Set FHIRBRIDGE_AUTH=jwt and FHIRBRIDGE_AUTH_ISSUERS to protect it.")
        log.warning(banner)
    else:
        issuers = ", ".join(trusted.issuer for trusted in settings.auth_issuers)
        log.info("bearer tokens required; trusted issuers: %s", issuers)


def smart_configuration(settings: Settings) -> dict[str, Any]:
    first = settings.auth_issuers[0] if settings.auth_issuers else None
    configuration: dict[str, Any] = {
        "issuer": first.issuer if first else None,
        "jwks_uri": first.jwks if first and first.jwks.startswith("https://") else None,
        "authorization_endpoint": settings.authorization_endpoint,
        "token_endpoint": settings.token_endpoint,
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": list(CAPABILITIES),
    }
    return {key: value for key, value in configuration.items() if value is not None}

"""Settings, read from the environment with the ``FHIRBRIDGE_`` prefix (or a ``.env`` file)."""

from __future__ import annotations

import contextlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from fhirbridge.fhir.jsonio import DEFAULT_MAX_DEPTH
from fhirbridge.notifications.hosts import allowed_host


class TrustedIssuer(BaseModel):
    """An OAuth2 authorization server whose access tokens (JWTs) this service accepts."""

    issuer: str = Field(description="The token's `iss`, exactly")
    jwks: str = Field(description="Its signing keys: a JWKS URL (https://…) or a JWKS file path")


class ClientRateLimit(BaseModel):
    """One client's own rate limit (``FHIRBRIDGE_RATE_LIMITS``); a plain number is ``per_second``."""

    per_second: float = Field(ge=0, description="Requests a second on average; 0: not limited")
    burst: int | None = Field(None, ge=1, description="Requests at once; one second's worth when unset")

    @model_validator(mode="before")
    @classmethod
    def _plain_number(cls, value: Any) -> Any:
        return {"per_second": value} if isinstance(value, int | float) and not isinstance(value, bool) else value


class Settings(BaseSettings):
    """Every knob the service has; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="FHIRBRIDGE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///./fhirbridge.db",
        description="sqlite:///path/to/file.db or postgresql://user:password@host:5432/database",
    )
    base_url: str | None = Field(
        None, description="Public base URL of the FHIR endpoint (…/fhir); derived from each request when unset"
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Addresses or networks of the reverse proxies whose X-Forwarded-Proto, X-Forwarded-Host and "
        "X-Forwarded-For are believed (comma-separated or a JSON list, e.g. 10.0.0.0/24); from any other peer they "
        "are ignored. Empty: none",
    )
    base_url_aliases: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Other base URLs of the FHIR endpoint (comma-separated or a JSON list): references to them are "
        "stored as relative references",
    )
    auto_migrate: bool = Field(True, description="Run database migrations at start (always safe; advisory-locked)")
    db_wait_seconds: float = Field(
        60,
        ge=0,
        description="How long the service and every command wait for the database at start, trying again after "
        "0.5 s, 1 s, 2 s … (at most 10 s apart); the service answers /healthz meanwhile and /readyz says why it is "
        "not ready. Then they give up: one line, exit status 1. 0: try once",
    )
    max_body_bytes: int = Field(10 * 1024 * 1024, description="Largest accepted request body")
    max_json_depth: int = Field(
        DEFAULT_MAX_DEPTH, ge=2, le=512, description="Most levels of arrays and objects a request body may nest"
    )
    max_bundle_entries: int = Field(1000, ge=1, description="Most entries in one batch or transaction Bundle")
    default_page_size: int = Field(20, ge=1)
    max_page_size: int = Field(1000, ge=1)
    db_pool_size: int = Field(16, ge=1, description="PostgreSQL connections per app instance")
    statement_timeout_ms: int = Field(30_000, ge=100, description="PostgreSQL statement timeout")
    sqlite_read_threads: int = Field(4, ge=1)
    fixed_care_contacts_per_patient: int = Field(
        1, ge=1, description="Active fixed care contacts (fast vårdkontakt) one patient may have across all care teams"
    )
    fixed_doctors_per_patient: int = Field(
        1, ge=1, description="Active fixed doctors (fast läkarkontakt) one patient may have across all care teams"
    )
    report_minimum_cell: int = Field(
        5, ge=1, description="Smallest count the follow-up report shows; smaller ones are suppressed"
    )
    report_freeze_hours: float = Field(
        1.0,
        ge=0,
        description="How often the service freezes the follow-up report's tertials that are due (the first a "
        "minute after start); 0: only when a report first needs one",
    )
    report_key_secret: SecretStr | None = Field(
        None,
        description="Secret of the report's record keys (cell-key perturbation); the same on every instance. "
        "Unset: one generated at random and kept in the database (table report_secret)",
    )
    outbox_worker: Literal["inprocess", "off"] = Field(
        "inprocess",
        description="Deliver subscription notifications from the service itself, or leave it to `fhirbridge worker`",
    )
    outbox_poll_seconds: float = Field(
        1.0, gt=0, description="How often the delivery worker looks for due notifications"
    )
    outbox_max_age_hours: float = Field(
        72, gt=0, description="How long a notification is retried before it is given up"
    )
    outbox_keep_delivered_hours: float = Field(
        24, ge=0, description="How long the worker keeps a delivered notification's outbox row before it purges it"
    )
    export_dir: str = Field(
        "exports",
        description="Folder of the Bulk Data export files ($export), one subfolder a job; shared by all instances",
    )
    export_keep_hours: float = Field(
        24,
        gt=0,
        description="How long a finished export's status and files answer (its Expires); the worker deletes them "
        "15 minutes later",
    )
    subscription_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts (host or host:port) Subscriptions may call although their addresses are internal "
        "(comma-separated or a JSON list); outside development mode they too need https",
    )
    notify_ca_file: str | None = Field(
        None,
        description="A PEM file of CA certificates that notification receivers' https certificates may chain to, "
        "besides the system's (a region's own CA); unset: the system's alone",
    )
    rate_limit_per_second: float = Field(
        5000,
        ge=0,
        description="Requests a second one client (the verified client id of its token) may make on average "
        "(token bucket refill); 0 turns rate limiting off",
    )
    rate_limit_burst: int = Field(5000, ge=1, description="Requests one client may make at once before it is limited")
    rate_limit_anonymous_per_second: float = Field(
        50, ge=0, description="Requests a second from one address without a valid token (401s among them); 0: no limit"
    )
    rate_limit_anonymous_burst: int = Field(200, ge=1, description="Such requests one address may make at once")
    rate_limits: dict[str, ClientRateLimit] = Field(
        default_factory=dict,
        description='Limits of named clients, by client id: {"region-integration": 10000} (a second, bursts of one '
        'second\'s worth) or {"cosmic": {"per_second": 500, "burst": 2000}}; 0 a second: not limited',
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins of browser apps allowed to call the API (comma-separated or a JSON list; * for any)",
    )
    reserve_number_systems: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Identifier systems of regional reserve numbers (comma-separated or a JSON list): like "
        "personnummer, samordningsnummer and the national reserve number, each value names one person",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="The level of every logger: the service's own (fhirbridge.*) and uvicorn's"
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="The bearer token a Prometheus scraper sends for /metrics; unset: /metrics answers loopback "
        "callers only (with authentication off: everyone)",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`text`: one readable line per record; `json`: one JSON object per line (time, level, "
        "logger, request_id, message, exception) for a log collector",
    )
    auth: Literal["jwt", "off"] = Field(
        "jwt",
        description="`jwt`: every request needs a bearer token from a trusted issuer; "
        "`off`: development only, everyone may do everything (loudly logged at start)",
    )
    auth_issuers: list[TrustedIssuer] = Field(
        default_factory=list, description='JSON list: [{"issuer": "https://idp/…", "jwks": "https://idp/…/jwks"}]'
    )
    auth_audience: list[str] = Field(
        default_factory=list, description="Accepted token audiences (`aud`); the base URL when empty"
    )
    auth_clock_skew_seconds: int = Field(60, ge=0, le=600, description="Leeway for `exp`, `nbf` and `iat`")
    auth_jwks_cache_seconds: int = Field(300, ge=0, description="How long fetched signing keys are trusted")
    authorization_endpoint: str | None = Field(None, description="Published in the SMART configuration")
    token_endpoint: str | None = Field(None, description="Published in the SMART configuration")
    emergency_access_max_minutes: int = Field(
        240, ge=1, description="Longest emergency access (nödåtkomst) one request may open"
    )
    audit_flush_seconds: float = Field(
        0.2,
        gt=0,
        description="The most time a request's AuditEvent waits unwritten after the request was answered "
        "(what a killed process can lose); requests wait rather than let it grow",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from fhirbridge.storage.urls import parse_database_url

        parse_database_url(value)  # a ValueError says what is wrong with it
        return value

    @field_validator(
        "cors_origins",
        "subscription_allowed_hosts",
        "base_url_aliases",
        "reserve_number_systems",
        "trusted_proxies",
        mode="before",
    )
    @classmethod
    def _text_list(cls, value: Any) -> Any:
        """``https://a.se,https://b.se`` or ``["https://a.se"]`` from the environment (``[::1]:8443``
        is an IPv6 host, not JSON)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                with contextlib.suppress(ValueError):
                    return json.loads(text)
            return [o.strip() for o in text.split(",") if o.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: list[str]) -> list[str]:
        from fhirbridge.rest.forwarded import trusted_network

        for entry in value:
            trusted_network(entry)  # a ValueError names the entry at start
        return value

    @field_validator("notify_ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"FHIRBRIDGE_NOTIFY_CA_FILE names no file: {value!r}")  # at start, not at a delivery
        return value

    @field_validator("subscription_allowed_hosts")
    @classmethod
    def _allowed_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            allowed_host(entry)  # a ValueError names the entry at start, not at the first delivery
        return value


class ConfigurationError(Exception):
    """A setting, or a path one names, the service cannot work with; the message names it and
    says what is wrong (the command line prints it as one line and exits with status 2)."""


def _described(error: ValidationError) -> str:
    """A settings error as lines naming each variable, without the values (they may be secrets)."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        field = str(problem["loc"][0]) if problem.get("loc") else "?"
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"FHIRBRIDGE_{field.upper()}: {message}")
    return "\n".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of the environment; a value that cannot work is a :class:`ConfigurationError`."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(_described(error)) from None
    except SettingsError as error:  # a value that should be JSON and is not
        cause = error.__cause__
        raise ConfigurationError(f"{_env_name(str(error))}: not valid JSON ({cause})") from None


def _env_name(message: str) -> str:
    """``error parsing value for field "auth_issuers" from source …`` -> FHIRBRIDGE_AUTH_ISSUERS."""
    _, _, rest = message.partition('field "')
    field, _, _ = rest.partition('"')
    return f"FHIRBRIDGE_{field.upper()}" if field else "a FHIRBRIDGE_ setting"

"""Framework-neutral FHIR requests and responses.

The HTTP app turns each HTTP request into a :class:`FhirRequest` and renders the
:class:`FhirResponse` it gets back; a transaction bundle entry can use the same handlers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from fhirbridge.errors import bad_request
from fhirbridge.fhir.jsonio import DEFAULT_MAX_DEPTH, parse_body
from fhirbridge.identity import Identity

ReturnPreference = Literal["minimal", "representation", "OperationOutcome"]
_ETAG = re.compile(r'^(?:W/)?"?(?P<version>[^"]+)"?$')


def etag_version(value: str, where: str) -> int:
    """The version in an ETag such as ``W/"3"`` (If-Match, or a Bundle entry's ifMatch); else 400."""
    match = _ETAG.match(value.strip())
    if match is None or not match.group("version").isdigit():
        raise bad_request(f'{where} must be an ETag such as W/"3", not {value!r}', where)
    return int(match.group("version"))


@dataclass(frozen=True)
class Prefer:
    """The ``Prefer`` header (RFC 7240) as FHIR uses it: ``return=`` and ``handling=``."""

    return_: ReturnPreference = "representation"
    strict: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Prefer:
        if not header:
            return cls()
        return_: ReturnPreference = "representation"
        strict = False
        for part in header.split(","):
            for token in part.split(";"):
                key, _, value = token.strip().partition("=")
                value = value.strip().strip('"')
                if key.strip().lower() == "return" and value in ("minimal", "representation", "OperationOutcome"):
                    return_ = value  # type: ignore[assignment]
                elif key.strip().lower() == "handling":
                    strict = value == "strict"
        return cls(return_, strict)


@dataclass
class FhirRequest:
    """One FHIR interaction request."""

    method: str
    base_url: str
    identity: Identity
    resource_type: str | None = None
    resource_id: str | None = None
    version_id: str | None = None
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    max_json_depth: int = DEFAULT_MAX_DEPTH

    @property
    def prefer(self) -> Prefer:
        return Prefer.parse(self.headers.get("prefer"))

    def type_name(self) -> str:
        """The resource type of a type- or instance-level interaction."""
        if self.resource_type is None:
            raise bad_request("This interaction needs a resource type in the URL", "url")
        return self.resource_type

    def address(self) -> tuple[str, str]:
        """``(type, id)`` of an instance-level interaction."""
        if self.resource_id is None:
            raise bad_request("This interaction needs a resource id in the URL", "url")
        return self.type_name(), self.resource_id

    def query_value(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    def criteria(self) -> list[tuple[str, str]]:
        """The query without the parameters that only shape the response."""
        return [(k, v) for k, v in self.query if k not in ("_format", "_pretty")]

    def json_body(self) -> Any:
        """The body as JSON: a 400 when it is empty, malformed or nested deeper than
        ``max_json_depth`` (R4 security.html: hostile input)."""
        return parse_body(self.body or b"", self.max_json_depth)

    def if_match(self) -> int | None:
        """The version in ``If-Match`` (``W/"3"``); a malformed header is a 400."""
        header = self.headers.get("if-match")
        return None if header is None else etag_version(header, "If-Match")


@dataclass
class FhirResponse:
    """What an interaction answers; ``body`` is stored JSON served as is, ``resource`` is built."""

    status: int
    resource: dict[str, Any] | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def etag(version: int) -> str:
    return f'W/"{version}"'

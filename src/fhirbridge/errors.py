"""One error hierarchy for the whole service.

Every failure a client can cause is a :class:`FhirError` carrying the HTTP status and the
OperationOutcome issues that explain it (R4 ``operationoutcome.html``; status codes from
``http.html``).  The REST layer renders them in one place; nothing else builds error bodies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True)
class Issue:
    """One ``OperationOutcome.issue``: ``code`` is from the R4 IssueType value set."""

    severity: Severity
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()

    def to_fhir(self) -> dict[str, object]:
        issue: dict[str, object] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def error(code: str, diagnostics: str, *expression: str) -> Issue:
    return Issue("error", code, diagnostics, tuple(expression))


@dataclass
class FhirError(Exception):
    """A client-visible failure: HTTP status plus the issues that explain it."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: " + "; ".join(i.diagnostics for i in self.issues)


def _single(status: int, code: str, diagnostics: str, expression: tuple[str, ...]) -> FhirError:
    return FhirError(status, [Issue("error", code, diagnostics, expression)])


def bad_request(diagnostics: str, *expression: str, code: str = "invalid") -> FhirError:
    """400: the request could not be parsed or failed basic FHIR validation."""
    return _single(400, code, diagnostics, expression)


def not_found(diagnostics: str, *expression: str) -> FhirError:
    return _single(404, "not-found", diagnostics, expression)


def gone(diagnostics: str) -> FhirError:
    return _single(410, "deleted", diagnostics, ())


def method_not_allowed(diagnostics: str) -> FhirError:
    return _single(405, "not-supported", diagnostics, ())


def not_acceptable(diagnostics: str) -> FhirError:
    return _single(406, "not-supported", diagnostics, ())


def conflict(diagnostics: str, *expression: str) -> FhirError:
    return _single(409, "conflict", diagnostics, expression)


def precondition_failed(diagnostics: str, *expression: str) -> FhirError:
    return _single(412, "conflict", diagnostics, expression)


def payload_too_large(diagnostics: str) -> FhirError:
    return _single(413, "too-costly", diagnostics, ())


def unsupported_media_type(diagnostics: str) -> FhirError:
    return _single(415, "not-supported", diagnostics, ())


def unprocessable(diagnostics: str, *expression: str, code: str = "processing") -> FhirError:
    """422: the resource is well formed but breaks a server rule (R4 http.html#2.21.0.6)."""
    return _single(422, code, diagnostics, expression)


def invalid(issues: list[Issue], status: int = 400) -> FhirError:
    """Several validation issues at once, so a client can fix them all in one round."""
    return FhirError(status, issues)


RETRY_AFTER_SECONDS = 5
"""How long a client is asked to wait before trying again while the database is away."""


class DatabaseUnavailable(FhirError):
    """503 ``transient``: the database cannot be reached or cannot write at the moment (R4
    http.html: 503 for a server that is temporarily unable to handle the request; IssueType
    ``transient``: "the processing may succeed if retried").  Nothing was changed, except that a
    write whose commit the database never confirmed may have been committed."""

    def __init__(self, reason: str) -> None:
        issue = Issue("error", "transient", f"The database is not available at the moment ({reason}); try again")
        super().__init__(503, [issue], {"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.reason = reason

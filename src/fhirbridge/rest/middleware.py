"""ASGI middleware of the FHIR endpoint."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class TrailingSlash:
    """Serve ``/fhir/Patient/`` as ``/fhir/Patient``: R4 http.html asks servers to accept both
    forms and discourages redirects, which many clients do not follow for writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope, path=path.rstrip("/") or "/")
        await self.app(scope, receive, send)


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_OWN_HEADERS = frozenset(name for name, _ in SECURITY_HEADERS)
PAGE_POLICY = (
    b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
    b"form-action 'none'; frame-ancestors 'none'"
)
"""The patient's page needs nothing but its own inline stylesheet: no scripts, no frames."""
REPORT_POLICY = PAGE_POLICY.replace(b"form-action 'none'", b"form-action 'self'")
"""The report page also submits its filter form (GET, to itself)."""
DOCS_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Swagger UI (``/docs``): the service's own scripts and styles (Swagger UI also sets inline
styles and data: images), requests to the service only: nothing from elsewhere."""


def page_policy(path: str) -> bytes | None:
    """The Content-Security-Policy of the pages fhirbridge writes itself (None elsewhere)."""
    if path.startswith("/overview/"):
        return PAGE_POLICY
    if path == "/docs" or path.startswith("/docs/"):
        return DOCS_POLICY
    return REPORT_POLICY if path == "/report" else None


class SecurityHeaders:
    """Headers every answer carries (no MIME sniffing, no referrer, no framing), and a strict
    Content-Security-Policy on the HTML pages fhirbridge serves itself (the patient overview,
    the report page, the API docs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = page_policy(str(scope.get("path", "")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OWN_HEADERS]
                headers += list(SECURITY_HEADERS)
                if policy is not None:
                    headers.append((b"content-security-policy", policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

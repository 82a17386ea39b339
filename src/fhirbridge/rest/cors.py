"""Cross-origin requests from browser apps (Fetch standard, CORS protocol), for the origins
the deployment names and no others.

Without configured origins no CORS header is sent at all, so browsers keep the same-origin
policy.  The allowed request headers are those a FHIR client sends (R4 http.html: conditional
interactions and ``Prefer``) and ``Authorization``; the exposed ones are those it reads back.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "If-Match",
    "If-None-Match",
    "If-None-Exist",
    "If-Modified-Since",
    "Prefer",
)
EXPOSED_HEADERS = ("ETag", "Location", "Content-Location", "Last-Modified", "Retry-After")
PREFLIGHT_CACHE_SECONDS = 600


def allow_cross_origin(app: FastAPI, origins: list[str]) -> None:
    """Answer preflights and mark responses for ``origins`` (``["*"]`` for any); no-op when empty.

    Credentials (cookies) are not allowed: FHIR clients send a bearer token in ``Authorization``.
    """
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=PREFLIGHT_CACHE_SECONDS,
    )

"""The request id middleware: takes ``X-Request-ID`` or makes one, binds it for the request's log
lines and AuditEvents, and echoes it in the answer (:mod:`fhirbridge.observability.request_id`).

It is the outermost of the service's middleware, inside Starlette's own server-error handler:
when an exception escapes the application the id stays bound (the request's task ends with
it), so that the handler's log line and its 500 answer (:func:`request_id_headers`) carry it
too."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhirbridge.observability.request_id import (
    HEADER,
    accepted_request_id,
    bind_request_id,
    current_request_id,
    unbind_request_id,
)

_HEADER_NAME = HEADER.lower().encode()


class RequestIds:
    """Binds each HTTP request's id and puts it on the answer (R4 http.html does not name the
    header; ``X-Request-ID`` is the de facto one, kept by proxies and IHE BALP alike)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = None
        for name, value in scope["headers"]:
            if name == _HEADER_NAME:
                offered = value.decode("latin-1")
                break
        request_id = accepted_request_id(offered)
        echoed = (_HEADER_NAME, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":  # no answer within sets the header itself
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        token = bind_request_id(request_id)
        await self.app(scope, receive, send_with_id)
        unbind_request_id(token)  # not on an exception: the server-error handler still logs it


def request_id_headers() -> dict[str, str]:
    """The header naming the current request, for an answer written outside :class:`RequestIds`."""
    request_id = current_request_id()
    return {HEADER: request_id} if request_id is not None else {}

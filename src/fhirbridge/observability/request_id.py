"""The request id: one token naming a request in every log line written while it is served, in
its AuditEvents and in its answer (``X-Request-ID``).

A client's ``X-Request-ID`` is taken when it is a sane token (:func:`accepted_request_id`), so
that a request can be followed from the client or a proxy in front of the service; any other
value is replaced by a fresh one (a uuid4).  A value that holds a personnummer,
samordningsnummer or organisation number (ten digits or more in a person number's shape) is
replaced too: the id is copied into logs and into AuditEvents a patient may read, which must
never name anyone.

The id lives in a context variable set for the request (:mod:`fhirbridge.rest.request_id`) and
reaches log records through :class:`RequestIdFilter`.
"""

from __future__ import annotations

import logging
import random
import re
from contextvars import ContextVar, Token

HEADER = "X-Request-ID"
MOST_CHARACTERS = 64
_SANE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MOST_CHARACTERS}}}")
_NUMBER_SHAPED = re.compile(r"[0-9]{6}[-+]?[0-9]{4}")
"""YYMMDDNNNN, YYMMDD-NNNN, and so the 12-digit forms too; an organisation number's 10 digits."""
NO_REQUEST = "-"
"""The request id of a log line written outside any request."""

_current: ContextVar[str | None] = ContextVar("fhirbridge_request_id", default=None)


def accepted_request_id(offered: str | None) -> str:
    """``offered`` when it is a sane token (letters, digits, ``._:-``, 64 at most) naming nobody,
    else a new uuid4."""
    if offered is not None and _SANE.fullmatch(offered) and not _NUMBER_SHAPED.search(offered):
        return offered
    return new_request_id()


_VERSION_4 = 0x4 << 76
_VARIANT = 0x2 << 62
_KEPT = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)


def new_request_id() -> str:
    """A random UUID (version 4, RFC 4122 §4.4) in its usual form, drawn from the process's
    generator, which :mod:`random` seeds anew in a forked child: the id names a request, it
    guards nothing, and ``uuid.uuid4()``'s system call would cost each request about 4 µs
    against 1 µs."""
    text = "%032x" % (random.getrandbits(128) & _KEPT | _VERSION_4 | _VARIANT)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def current_request_id() -> str | None:
    """The id of the request being served, or None outside a request."""
    return _current.get()


def bind_request_id(request_id: str | None) -> Token[str | None]:
    """Make ``request_id`` the current one; the token returned undoes it (:func:`unbind_request_id`)."""
    return _current.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Gives every record passing a handler ``record.request_id``: the current request's id, or
    :data:`NO_REQUEST`.  On the handlers, not the loggers: a logger's filters do not see the
    records its children pass up to it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get() or NO_REQUEST
        return True

"""How the service writes its log: one handler on the root logger, to standard error, through
which the service's own loggers (``fhirbridge.*``) and uvicorn's (``uvicorn.error``,
``uvicorn.access``) all pass, at the level of ``FHIRBRIDGE_LOG_LEVEL``.  On that handler every
line is given the request it was written for
(:class:`~fhirbridge.observability.request_id.RequestIdFilter`) and has its identifiers masked
(:class:`~fhirbridge.observability.masking.MaskIdentifiers`), then is written as text or, with
``FHIRBRIDGE_LOG_FORMAT=json``, as one JSON object a line (:class:`JsonFormatter`)."""

from __future__ import annotations

import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

from fhirbridge.fhir.jsonio import dumps
from fhirbridge.observability.masking import MaskIdentifiers
from fhirbridge.observability.request_id import NO_REQUEST, RequestIdFilter

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``request_id``,
    ``message``, and ``exception`` / ``stack`` when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", NO_REQUEST),
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return dumps(entry).decode()


def service_handler(stream: IO[str] | None = None, log_format: LogFormat = "text") -> logging.Handler:
    """The handler every log line passes: the request id put on it, its identifiers masked,
    then formatted."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(MaskIdentifiers())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def logging_config(level: str, log_format: LogFormat = "text") -> dict[str, Any]:
    """The :func:`logging.config.dictConfig` of the service (and of ``uvicorn.run``'s
    ``log_config``, which each worker process applies): the level on the root and on uvicorn's
    loggers, which lose their own handlers and pass their lines to the root's."""
    name = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"service": {"()": service_handler, "log_format": log_format}},
        "root": {"level": name, "handlers": ["service"]},
        "loggers": {logger: {"level": name, "handlers": [], "propagate": True} for logger in UVICORN_LOGGERS},
    }


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Apply :func:`logging_config` to this process."""
    logging.config.dictConfig(logging_config(level, log_format))


def basic_logging() -> None:
    """The commands' logging before their settings are read: warnings and errors through the
    service's handler, unless the process has configured its logging already (as
    :func:`logging.basicConfig` leaves a configured root alone)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(service_handler())
        root.setLevel(logging.WARNING)

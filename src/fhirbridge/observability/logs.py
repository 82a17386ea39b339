"""How the service writes its log: one handler on the root logger, to standard error, through
which the service's own loggers (``fhirbridge.*``) and uvicorn's (``uvicorn.error``,
``uvicorn.access``) all pass, each line naming the request it was written for
(:class:`~fhirbridge.observability.request_id.RequestIdFilter`)."""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import IO, Any

from fhirbridge.observability.request_id import RequestIdFilter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def service_handler(stream: IO[str] | None = None) -> logging.Handler:
    """The handler every log line passes: the request id put on it, then formatted."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


def logging_config(level: str) -> dict[str, Any]:
    """The :func:`logging.config.dictConfig` of the service (and of ``uvicorn.run``'s
    ``log_config``, which each worker process applies): uvicorn's loggers lose their own
    handlers and pass their lines to the root's."""
    name = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"service": {"()": service_handler}},
        "root": {"level": name, "handlers": ["service"]},
        "loggers": {logger: {"level": name, "handlers": [], "propagate": True} for logger in UVICORN_LOGGERS},
    }


def configure_logging(level: str) -> None:
    """Apply :func:`logging_config` to this process."""
    logging.config.dictConfig(logging_config(level))

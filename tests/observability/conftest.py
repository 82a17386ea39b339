"""A handle on the log lines the service writes, formatted as it formats them (the deployment
in production mode is tests/support/production.py's)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from fhirbridge.observability.logs import service_handler


class LogLines:
    """What the service's log handler wrote while the test ran."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def service_lines(self) -> list[str]:
        """The lines of the service's loggers and uvicorn's (not the test client's)."""
        return [line for line in self.lines() if line.split(" ")[3].startswith(("fhirbridge", "uvicorn"))]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """The service's own handler on the root logger, every logger at INFO, for the test."""
    captured = LogLines()
    handler = service_handler(captured.stream)
    root = logging.getLogger()
    loggers = [root, logging.getLogger("fhirbridge")]
    levels = [logger.level for logger in loggers]
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)

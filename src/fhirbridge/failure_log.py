"""What a background task (the notification worker, the access log's writer, the SQLite
checkpoints, the report's freezer) logs of its failures: the first of a run, and the success
that ends it, never a line per retry.

A task that fails keeps running and tries again; it must neither die silently nor fill the log
while the database is away.  A database outage is logged by the database itself
(:class:`~fhirbridge.storage.faults.FaultWatch`), so here it is one line at info level; any other
failure is a bug, logged once with its traceback.
"""

from __future__ import annotations

import logging
import time

from fhirbridge.errors import DatabaseUnavailable


class FailureLog:
    """The failures of one background task, as ``logger`` tells them."""

    def __init__(self, logger: logging.Logger, task: str) -> None:
        self.logger = logger
        self.task = task
        self.failures = 0
        self.since = 0.0
        self.level = logging.INFO

    def failed(self, exc: BaseException) -> None:
        """Note a failed round; the first of a run is logged."""
        self.failures += 1
        if self.failures > 1:
            return
        self.since = time.monotonic()
        if isinstance(exc, DatabaseUnavailable):  # the database's own lines say it (warning, error)
            self.level = logging.INFO
            self.logger.info("%s waits for the database (%s); it keeps trying", self.task, exc.reason)
        else:
            self.level = logging.WARNING
            self.logger.error("%s failed; it keeps trying", self.task, exc_info=exc)

    def succeeded(self) -> None:
        """Note a round that worked; the end of a run of failures is logged."""
        if self.failures:
            elapsed = time.monotonic() - self.since
            self.logger.log(
                self.level, "%s works again after %d failed rounds (%.1f s)", self.task, self.failures, elapsed
            )
            self.failures = 0

"""Prometheus metrics of the service, in a registry of its own (one per application), written
in the text exposition format at ``/metrics`` (:mod:`fhirbridge.rest.metrics`).

* ``fhirbridge_requests_total{interaction, type, status}``: requests answered, by FHIR
  interaction (R4 http.html: ``read``, ``search-type``, ``create``, …; an operation as
  ``$name``; an adapter by its name; ``other`` outside them), resource type (one of the served
  types, or empty) and status class (``2xx``, ``4xx``, …);
* ``fhirbridge_request_duration_seconds{interaction}``: their latency, a histogram;
* ``fhirbridge_refusals_total{status, code}``: requests refused with an OperationOutcome, by
  status and the first issue's code (``invariant`` and ``conflict`` for the contract rules,
  ``business-rule`` for patient links and merges, ``forbidden``, ``login``, ``invalid``, …);
* ``fhirbridge_audit_backlog``: AuditEvents waiting to be written (the access log's backlog);
* ``fhirbridge_outbox_backlog``: notifications owed to subscribers, counted when scraped;
* ``fhirbridge_database_connections{state}``: the database pool's connections in use and open.

Every label takes its values from a small fixed set: never a resource id, a query or a path.
The counts are plain numbers in dictionaries, added to on the event loop's thread, and
prometheus-client turns them into metric families when scraped (:meth:`Metrics.collect`): a
request costs two dictionary look-ups, a bisection and three additions, not the library's
per-series locks (docs/benchmarks.md, issue 17).
"""

from __future__ import annotations

import contextlib
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from fhirbridge.errors import DatabaseUnavailable
from fhirbridge.fhir.resource_types import STORED_TYPES

if TYPE_CHECKING:
    from fhirbridge.rest.interactions.context import ServiceContext

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BOUNDS = [*(str(bound) for bound in LATENCY_BUCKETS), "+Inf"]
OTHER = "other"


class Observed:
    """What a request was, as the route that served it says (its labels)."""

    __slots__ = ("interaction", "resource_type")

    def __init__(self) -> None:
        self.interaction = OTHER
        self.resource_type = ""

    def name(self, interaction: str, resource_type: str | None) -> None:
        self.interaction = interaction
        self.resource_type = resource_type if resource_type in STORED_TYPES else ""


class Metrics:
    """The service's metrics (see the module)."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[str, list[float]] = {}
        """By interaction: the observations in each bucket (not cumulative; the last is +Inf),
        then their sum."""
        self._refusals: dict[tuple[int, str], int] = {}
        self._audit_backlog = 0
        self._outbox_backlog = 0
        self._pool: tuple[int, int] | None = None
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def answered(self, observed: Observed, status: int, seconds: float) -> None:
        """Count one answered request."""
        key = (observed.interaction, observed.resource_type, status // 100)
        self._requests[key] = self._requests.get(key, 0) + 1
        latency = self._latency.get(observed.interaction)
        if latency is None:
            latency = self._latency[observed.interaction] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        latency[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency[-1] += seconds

    def refused(self, status: int, code: str) -> None:
        """Count one request refused with an OperationOutcome."""
        key = (status, code)
        self._refusals[key] = self._refusals.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        """The metric families, as prometheus-client's registry asks a collector for them."""
        requests = CounterMetricFamily(
            "fhirbridge_requests",
            "Requests answered, by FHIR interaction, resource type and status class",
            labels=["interaction", "type", "status"],
        )
        for (interaction, resource_type, status_class), count in self._requests.items():
            requests.add_metric([interaction, resource_type, f"{status_class}xx"], count)
        yield requests
        latency = HistogramMetricFamily(
            "fhirbridge_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by FHIR interaction",
            labels=["interaction"],
        )
        for interaction, counts in self._latency.items():
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip(_BOUNDS, counts[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((bound, cumulative))
            latency.add_metric([interaction], buckets, counts[-1])
        yield latency
        refusals = CounterMetricFamily(
            "fhirbridge_refusals",
            "Requests refused with an OperationOutcome, by status and the first issue's code",
            labels=["status", "code"],
        )
        for (status, code), count in self._refusals.items():
            refusals.add_metric([str(status), code], count)
        yield refusals
        yield GaugeMetricFamily(
            "fhirbridge_audit_backlog", "AuditEvents waiting to be written", value=self._audit_backlog
        )
        yield GaugeMetricFamily(
            "fhirbridge_outbox_backlog",
            "Notifications owed to subscribers (neither delivered nor given up)",
            value=self._outbox_backlog,
        )
        if self._pool is not None:
            connections = GaugeMetricFamily(
                "fhirbridge_database_connections", "The database pool's connections: in_use, open", labels=["state"]
            )
            connections.add_metric(["in_use"], self._pool[0])
            connections.add_metric(["open"], self._pool[1])
            yield connections

    async def exposition(self, context: ServiceContext | None) -> bytes:
        """The metrics in the text format, the backlogs and the pool read now."""
        if context is not None:
            from fhirbridge.notifications.outbox import pending

            database = context.repository.database
            if context.audit is not None:
                self._audit_backlog = context.audit.pending()
            with contextlib.suppress(DatabaseUnavailable):  # kept as last read while the database is away
                self._outbox_backlog = await pending(database)
            self._pool = database.pool_use()
        return generate_latest(self.registry)

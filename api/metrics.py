"""Prometheus metrics: requests and latencies, event intake, and the state of alerts and clues."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.counters import GAUGES, ingest_totals
from hub.delivery import backlog
from hub.store.db import Database


class RecordCollector(Collector):
    """Alerts by state, overdue clues and the ingest processes' counters, read from the database
    at scrape time."""

    def __init__(self, db: Database, now: Callable[[], datetime]) -> None:
        self.db, self.now = db, now

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | GaugeHistogramMetricFamily]:
        alerts = GaugeMetricFamily("offsite_alerts", "Alerts by state", labels=["status"])
        overdue = GaugeMetricFamily(
            "offsite_clues_overdue", "Clues with a deadline passed", labels=["deadline"]
        )
        with self.db.transaction() as conn:
            for status, count in conn.execute("SELECT status, count(*) FROM alerts GROUP BY status"):
                alerts.add_metric([str(status)], float(count))
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'issued' AND claim_deadline < %(now)s),"
                " count(*) FILTER (WHERE feedback_deadline < %(now)s) FROM risk_clues"
                " WHERE status IN ('issued', 'claimed', 'handled')",
                {"now": self.now()},
            ).fetchone()
            totals = ingest_totals(conn)
            outputs = backlog(conn, self.now())
        claim, feedback = row if row else (0, 0)
        overdue.add_metric(["claim"], float(claim))
        overdue.add_metric(["feedback"], float(feedback))
        ingest = CounterMetricFamily(
            "offsite_ingest",
            "What the ingest processes counted, by kind (sensors: per ingest worker; cameras: per camera)",
            labels=["kind", "source", "counter"],
        )
        state = GaugeMetricFamily(
            "offsite_ingest_state",
            "What the ingest processes hold now (spool_depth: events waiting for the hub; spool_age_s:"
            " seconds the oldest has waited)",
            labels=["kind", "source", "counter"],
        )
        for kind, source, counter, value in totals:
            (state if counter in GAUGES else ingest).add_metric([kind, source, counter], float(value))
        deliveries = GaugeMetricFamily(
            "offsite_outputs_deliveries",
            "Changes per output destination and delivery state (pending, delivered, dead)",
            labels=["destination", "state"],
        )
        lag = GaugeMetricFamily(
            "offsite_outputs_lag_seconds",
            "Age of the oldest change a destination has not taken yet (pending or dead)",
            labels=["destination"],
        )
        oldest: dict[str, float] = {}
        for destination, delivery_state, count, age in outputs:
            deliveries.add_metric([destination, delivery_state], float(count))
            oldest[destination] = max(oldest.get(destination, 0.0), age)
        for destination, age in oldest.items():
            lag.add_metric([destination], age)
        yield alerts
        yield overdue
        yield ingest
        yield state
        yield deliveries
        yield lag
        from api.routers.edge import delivery_lag_metric  # here: that router imports this module

        yield delivery_lag_metric(self.db, self.now())


MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class ApiMetrics:
    """The API's own registry, built per app (nothing registered at import time).

    Where several API processes serve one port, each writes its counts to files in
    ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, set before the process
    imports prometheus_client) and a scrape, answered by any of them, adds them all up.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records: RecordCollector | None = None
        self.requests = Counter(
            "offsite_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "offsite_http_request_seconds",
            "HTTP request latency until the response starts",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.events = Counter(
            "offsite_api_events", "Events taken over HTTP, by outcome", ["outcome"], registry=self.registry
        )

    def watch(self, db: Database, now: Callable[[], datetime]) -> None:
        self.records = RecordCollector(db, now)
        self.registry.register(self.records)

    def exposition(self) -> bytes:
        """The Prometheus text of every API process; with one process, also its own process and
        collector metrics (with several they would describe whichever process answered)."""
        shared = os.environ.get(MULTIPROCESS_DIR)
        if not shared:
            return generate_latest(self.registry) + generate_latest(REGISTRY)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, shared)  # type: ignore[no-untyped-call]
        if self.records is not None:
            registry.register(self.records)
        return generate_latest(registry)


def route_of(scope: Scope) -> str:
    """The route template a request matched, "unmatched" for none (a bounded set of labels).
    FastAPI's own routes put themselves in the scope; the plain Starlette routes it adds
    (``/openapi.json``) do not, so those are matched here."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    for candidate in getattr(scope.get("app"), "routes", ()):
        if isinstance(candidate, BaseRoute) and candidate.matches(scope)[0] is Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


class RequestMetrics:
    """ASGI middleware counting requests by route template (not raw path: ids would explode labels)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                route = route_of(scope)
                self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            route = route_of(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()

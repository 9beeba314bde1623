"""The sensor rules' clock: stored readings and the passing of time into rule events.

The rules see readings only once they are committed. Time passes for them (silences, durations,
sensor health) at each `tick()`; while a backlog is being drained (the broker's queue after an
outage of the intake) their time follows the data, not the wall, so that a sensor whose queued
readings have not all arrived yet is not judged silent. Rule events go to an `EventSink`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg
from psycopg_pool import PoolTimeout

from hub.config import Deployment
from hub.events import Event
from hub.sink import EventSink, Fate, HubUnavailable
from hub.store.db import Database
from hub.store.device_health import HealthChange, store_health
from iot.health import SensorHealth
from iot.readings import Reading
from iot.rules import SensorRules
from iot.stats import IngestStats

log = logging.getLogger(__name__)

# Readings older than this when they arrive come from a backlog (the broker's queue after an
# outage of the ingest): while draining one, the rules' clock follows the data, not the wall.
BACKLOG_LAG = timedelta(seconds=10)


class RulesClock:
    """The sensor rules and sensor health of one deployment, fed and ticked from two threads."""

    def __init__(
        self,
        deployment: Deployment,
        db: Database,
        sink: EventSink | None,
        clock: Callable[[], datetime],
        stats: IngestStats,
    ) -> None:
        self.deployment = deployment
        self.db = db
        self.sink = sink  # None: readings only, no rule events
        self.clock = clock
        self.stats = stats
        self.rules = SensorRules(deployment)
        self.health = SensorHealth(deployment)
        self._lock = threading.Lock()  # the writer and `tick()` callers share the rule state
        self._watermark: datetime | None = None  # newest reading of a backlog being drained

    def feed(self, readings: list[Reading], received: datetime) -> None:
        """Readings just committed, the last of their batch received at `received`."""
        self.health.seen(readings, self.clock())
        newest = max((r.time for r in readings), default=None)
        if newest is not None:
            behind = newest < received - BACKLOG_LAG
            self._watermark = newest if behind else None
        with self._lock:
            events = self.rules.feed(sorted(readings, key=lambda r: r.time))
        self._emit(events)

    def caught_up(self) -> None:
        """Nothing is waiting: the wall clock rules again."""
        self._watermark = None

    def tick(self) -> None:
        """Let time pass up to the clock's now: sensor health changes and the rules' silences.

        While a backlog is being drained the rules' time stops at its newest reading, so that a
        sensor whose queued readings have not all arrived yet is not judged silent.
        """
        now = self.clock()
        changes = self.health.changes(now)
        if changes:
            try:
                with self.db.pool.connection(timeout=5) as conn:
                    store_health(conn, [HealthChange(now, "sensor", s, status) for s, status in changes])
            except (psycopg.OperationalError, PoolTimeout):
                self.health.retry(changes)
        watermark = self._watermark
        with self._lock:
            events = self.rules.tick(now if watermark is None else min(now, watermark))
        self._emit(events)

    def restore(self) -> None:
        """Rebuild rule state from recent readings, so durations survive a restart."""
        now = self.clock()
        since = now - self.rules.lookback()
        sensors = list(self.deployment.sensor_by_id)
        if not sensors:
            return
        with self.db.pool.connection() as conn:
            rows = conn.execute(
                "SELECT sensor, metric, time, value FROM readings"
                " WHERE sensor = ANY(%s) AND time >= %s ORDER BY time",
                (sensors, since),
            ).fetchall()
            heard = {
                sensor for sensor in sensors
                if conn.execute("SELECT 1 FROM readings WHERE sensor = %s LIMIT 1", (sensor,)).fetchone()
            }  # fmt: skip
        new = frozenset(sensors) - heard
        self._emit(self.rules.restore([Reading(*row) for row in rows], now, new))

    def _emit(self, events: list[Event]) -> None:
        if self.sink is None or not events:
            return
        try:
            done = self.sink.take(events)
        except HubUnavailable as exc:  # only a sink without a spool says so: nowhere to keep them
            lost = len(events) - len(exc.delivered)
            log.error("%d sensor rule events lost, the hub is away: %s", lost, exc)
            self.stats.last_error = str(exc)
            done = exc.delivered
        self.stats.events += sum(1 for d in done if d.fate is not Fate.REFUSED)

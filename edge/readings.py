"""The box's outbox of sensor readings: every accepted reading on disk before the broker hears
it was taken, shipped to the hub (`POST /edge/readings`) in batches, oldest first.

A reading is committed to a SQLite file in WAL mode, synced (``synchronous=FULL``), before its
MQTT message is acknowledged, so a ``kill -9`` or a power cut loses none: what was not
acknowledged the broker sends again, what was is on disk. Marking readings delivered and
forgetting old ones is not synced on its own (a power cut may undo it: those are sent again,
and the hub stores them once); the next synced commit carries it. Delivery follows the order
of arrival, so each sensor's readings reach the hub in order. The hub stores each (sensor,
metric, time) once, which is a reading's stable id: a batch sent again after a lost answer
stores nothing twice.

Delivered readings stay while the box's sensor rules may need them after a restart (`keep`:
their look-back, `iot.rules.SensorRules.lookback`), then go. The outbox is bounded
(`limit_rows`): past it the oldest delivered readings go first, then the oldest waiting ones,
counted in `stats.evicted` and logged, which the heartbeat reports to the hub (its
`outbox_evicting` finding). Catch-up is paced like the event outbox: at most `catch_up_per_s`
requests a second, in bursts of a second's worth.

A batch the hub refuses (403, 422) is halved until the one reading it refuses is found: that one
is set aside with the reason (`refused`), never retried; the others are delivered.

The sensors' health changes (online, offline: `iot.health.SensorHealth` on the box, which hears
them) wait in the same file and go with the next request, for the hub's `device_health`.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from edge.uplink import Refused
from hub.backoff import jittered_delay
from hub.sink import HubUnavailable
from hub.store.device_health import HealthChange
from iot.readings import Reading

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    sensor     TEXT NOT NULL,
    metric     TEXT NOT NULL,
    time_us    INTEGER NOT NULL,  -- the reading's time, microseconds since the epoch (UTC)
    value      REAL NOT NULL,
    sent       INTEGER NOT NULL DEFAULT 0,  -- the hub has it; kept for the rules' look-back
    spooled_at REAL NOT NULL  -- seconds since the epoch
);
CREATE INDEX IF NOT EXISTS readings_waiting ON readings (sent, seq);
CREATE INDEX IF NOT EXISTS readings_time ON readings (sensor, time_us);
CREATE TABLE IF NOT EXISTS health (  -- sensors turning online or offline, as the box judged them
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    sensor     TEXT NOT NULL,
    status     TEXT NOT NULL,
    time_us    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    seq        INTEGER PRIMARY KEY,
    sensor     TEXT NOT NULL,
    metric     TEXT NOT NULL,
    time_us    INTEGER NOT NULL,
    value      REAL NOT NULL,
    reason     TEXT NOT NULL,
    refused_at REAL NOT NULL
);
"""
ROW_BYTES = 100  # a reading's row with its index entries on disk, roughly: the bound in rows
BATCH = 1000  # readings per POST /edge/readings: about 40 KB of JSON as series, under the body limit
PRUNE_EVERY = 10.0  # seconds between forgetting delivered readings past the look-back
MAX_BACKOFF = 30.0  # seconds between tries at most while the hub is away
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReadingsUplink(Protocol):
    """Where readings go: `edge.uplink.HubUplink` is one."""

    def readings(
        self, site: str, readings: Sequence[Reading], health: Sequence[HealthChange] = ()
    ) -> int: ...


@dataclass
class ReadingsStats:
    spooled: int = 0  # readings written to the outbox
    delivered: int = 0  # readings the hub took (stored anew or before)
    refused: int = 0  # readings the hub refused, set aside
    evicted: int = 0  # readings evicted before the hub had them, to stay under the bound
    retries: int = 0  # requests that found the hub away
    last_error: str = ""


class ReadingsOutbox:
    """Readings of `site` spooled to `path` and delivered to `uplink` by a thread of its own;
    `close()` stops it. `limit_rows`, `catch_up_per_s` and `keep` may be changed while it runs."""

    def __init__(
        self,
        path: Path,
        uplink: ReadingsUplink,
        site: str,
        *,
        limit_rows: int | None = None,
        catch_up_per_s: float | None = None,
        keep: timedelta = timedelta(0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path, self.uplink, self.site, self.clock = path, uplink, site, clock
        self.limit_rows = limit_rows
        self.catch_up_per_s = catch_up_per_s
        self.keep = keep
        self.stats = ReadingsStats()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()  # one SQLite connection, shared by the intake and the drainer
        self._rows = int(self._db.execute("SELECT count(*) FROM readings").fetchone()[0])
        self._next_prune = 0.0
        self._tokens = float("inf")  # requests the pace lets go now (a full bucket to start)
        self._refilled = time.monotonic()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drainer = threading.Thread(target=self._drain_loop, name="readings-drainer", daemon=True)
        self._drainer.start()

    # --- the intake ---------------------------------------------------------------------------
    def put(self, readings: Sequence[Reading]) -> None:
        """Commit `readings` to the disk (synced); only then may their messages be acknowledged."""
        if not readings:
            return
        now = self.clock()
        rows = [(r.sensor, r.metric, _micros(r.time), r.value, now) for r in readings]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO readings (sensor, metric, time_us, value, spooled_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self._rows += len(rows)
            if self.limit_rows is not None and self._rows > self.limit_rows:
                self._evict(self.limit_rows)
        self.stats.spooled += len(rows)
        self._wake.set()

    def put_health(self, changes: Sequence[HealthChange]) -> None:
        """Keep sensor status changes for the hub (committed, like readings)."""
        if not changes:
            return
        with self._transaction():
            self._db.executemany(
                "INSERT INTO health (sensor, status, time_us) VALUES (?, ?, ?)",
                [(c.device, c.status, _micros(c.time)) for c in changes],
            )
        self._wake.set()

    def recent(self, sensors: Iterable[str], since: datetime) -> list[Reading]:
        """The readings of `sensors` at or after `since`, delivered or not, in time order: what
        the sensor rules rebuild their state from after a restart."""
        wanted = list(sensors)
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(
                f"SELECT sensor, metric, time_us, value FROM readings WHERE sensor IN ({marks})"
                " AND time_us >= ? ORDER BY time_us, seq",
                [*wanted, _micros(since)],
            ).fetchall()
        return [Reading(s, m, _time(t), v) for s, m, t, v in rows]

    def heard(self, sensors: Iterable[str]) -> set[str]:
        """Those of `sensors` the outbox holds a reading of."""
        with self._lock:
            one = "SELECT 1 FROM readings WHERE sensor = ? LIMIT 1"
            return {s for s in sensors if self._db.execute(one, (s,)).fetchone()}

    # --- state ----------------------------------------------------------------------------------
    def depth(self) -> int:
        """Readings waiting for the hub."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM readings WHERE sent = 0").fetchone()[0])

    def age(self) -> float:
        """Seconds the oldest waiting reading has waited; 0 when none waits."""
        with self._lock:
            row = self._db.execute("SELECT min(spooled_at) FROM readings WHERE sent = 0").fetchone()
        return 0.0 if row[0] is None else max(0.0, self.clock() - float(row[0]))

    def refusals(self) -> list[tuple[str, str, str]]:
        """(sensor, metric, reason) of every reading the hub refused, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT sensor, metric, reason FROM refused ORDER BY seq").fetchall()
        return [(str(s), str(m), str(r)) for s, m, r in rows]

    def drain(self, timeout: float) -> bool:
        """Wait until no reading waits (True) or `timeout` seconds pass (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.depth() == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Stop the drainer; what waits stays on disk for the next run."""
        self._stop.set()
        self._wake.set()
        self._drainer.join(timeout=30)
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self, synced: bool = True) -> Iterator[None]:
        """One transaction on the shared connection, under its lock (the connection autocommits);
        its commit synced to the disk, or not (`synced`: what a power cut may undo harmlessly)."""
        with self._lock:
            self._db.execute(f"PRAGMA synchronous={'FULL' if synced else 'NORMAL'}")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- delivery -----------------------------------------------------------------------------
    def _drain_loop(self) -> None:
        failures = 0
        rng = random.Random()
        while not self._stop.is_set():
            try:
                sent = self._drain_once()
            except HubUnavailable as exc:
                self.stats.retries += 1
                self.stats.last_error = str(exc)
                delay = jittered_delay(0.5, MAX_BACKOFF, failures, rng)
                failures += 1
                log.warning("readings not delivered (%s); next try in %.1f s", exc, delay)
                self._stop.wait(delay)
                continue
            except Exception as exc:  # the drainer must outlive anything one batch does
                log.exception("readings outbox error")
                self.stats.last_error = str(exc)
                self._stop.wait(1.0)
                continue
            failures = 0
            if not sent:
                self._wake.wait(1.0)
                self._wake.clear()

    def _drain_once(self) -> bool:
        """Deliver the waiting health changes and the oldest waiting batch; whether there was one."""
        self._prune()
        with self._lock:
            changes = self._db.execute(
                "SELECT seq, sensor, status, time_us FROM health ORDER BY seq LIMIT ?", (BATCH,)
            ).fetchall()
        if changes:
            self._deliver_health(
                [(int(q), HealthChange(_time(t), "sensor", s, st)) for q, s, st, t in changes]
            )
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, sensor, metric, time_us, value FROM readings WHERE sent = 0"
                " ORDER BY seq LIMIT ?",
                (BATCH,),
            ).fetchall()
        if not rows:
            return bool(changes)
        self._deliver([(int(seq), Reading(s, m, _time(t), v)) for seq, s, m, t, v in rows])
        return True

    def _deliver(self, batch: list[tuple[int, Reading]]) -> None:
        """Send `batch`; halved on a refusal until the one reading refused is set aside."""
        self._pace()
        try:
            self.uplink.readings(self.site, [r for _, r in batch])
        except Refused as exc:
            if len(batch) > 1:
                half = len(batch) // 2
                self._deliver(batch[:half])
                self._deliver(batch[half:])
                return
            self._set_aside(batch[0], str(exc))
            return
        with self._transaction(synced=False):
            self._db.executemany("UPDATE readings SET sent = 1 WHERE seq = ?", [(seq,) for seq, _ in batch])
        self.stats.delivered += len(batch)

    def _deliver_health(self, changes: list[tuple[int, HealthChange]]) -> None:
        """Send status changes; ones the hub refuses (a sensor no longer of the site) are logged
        and dropped: the next change says the same, newer."""
        self._pace()
        try:
            self.uplink.readings(self.site, [], [c for _, c in changes])
        except Refused as exc:
            log.warning("%d sensor status change(s) refused by the hub: %s", len(changes), exc)
        with self._transaction(synced=False):
            self._db.executemany("DELETE FROM health WHERE seq = ?", [(seq,) for seq, _ in changes])

    def _set_aside(self, entry: tuple[int, Reading], reason: str) -> None:
        seq, r = entry
        log.warning("reading %s.%s at %s refused by the hub: %s", r.sensor, r.metric, r.time, reason)
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO refused VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, r.sensor, r.metric, _micros(r.time), r.value, reason[:2000], self.clock()),
            )
            self._db.execute("DELETE FROM readings WHERE seq = ?", (seq,))
            self._rows -= 1
        self.stats.refused += 1

    def _pace(self) -> None:
        """Wait until the pace lets one more request go (a bucket of a second's worth)."""
        rate = self.catch_up_per_s
        if rate is None:
            return
        while not self._stop.is_set():
            now = time.monotonic()
            self._tokens = min(rate, self._tokens + (now - self._refilled) * rate)
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            self._stop.wait((1 - self._tokens) / rate)

    def _prune(self) -> None:
        """Forget delivered readings older than the rules' look-back, every `PRUNE_EVERY` seconds."""
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY
        cutoff = _micros(datetime.fromtimestamp(self.clock(), UTC) - self.keep)
        with self._transaction(synced=False):
            gone = self._db.execute("DELETE FROM readings WHERE sent = 1 AND time_us < ?", (cutoff,)).rowcount
            self._rows -= max(gone, 0)

    def _evict(self, limit: int) -> None:
        """Down to `limit` rows: delivered readings first, then the oldest waiting ones. Inside
        the appending transaction."""
        over = self._rows - limit
        delivered = self._db.execute(
            "DELETE FROM readings WHERE seq IN"
            " (SELECT seq FROM readings WHERE sent = 1 ORDER BY seq LIMIT ?)",
            (over,),
        ).rowcount
        over -= delivered
        waiting = 0
        if over > 0:
            waiting = self._db.execute(
                "DELETE FROM readings WHERE seq IN"
                " (SELECT seq FROM readings WHERE sent = 0 ORDER BY seq LIMIT ?)",
                (over,),
            ).rowcount
            self.stats.evicted += waiting
            log.warning(
                "readings outbox over its bound of %d rows: evicted the %d oldest readings the hub"
                " did not have yet (%d so far)", limit, waiting, self.stats.evicted,
            )  # fmt: skip
        self._rows -= delivered + waiting


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)

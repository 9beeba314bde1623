"""MQTT sensor messages -> readings in the database -> sensor rules -> hub events.

A message is acknowledged to the broker only after the readings it carries are committed, so a
crash or a database outage never loses an acknowledged reading: the broker keeps the persistent
session and redelivers what was not acknowledged, and the unique key (sensor, metric, time) makes
a redelivery store nothing twice.

Back-pressure comes from MQTT 5's Receive Maximum: the broker sends at most that many
unacknowledged messages, so memory stays bounded while the database is away.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg_pool import PoolTimeout

from hub.config import Deployment
from hub.events import Event, EventRejected
from hub.pipeline import Pipeline
from hub.store.db import Database
from iot.health import SensorHealth
from iot.payloads import Decoded, Decoder, Refusal, subscription
from iot.readings import Reading
from iot.rules import SensorRules
from iot.writer import DeadLetter, write_batch

log = logging.getLogger(__name__)

# Readings older than this when they arrive come from a backlog (the broker's queue after an
# outage of the ingest): while draining one, the rules' clock follows the data, not the wall.
BACKLOG_LAG = timedelta(seconds=10)
SESSION_EXPIRY = 7 * 86400  # seconds the broker keeps our session (and its messages) while we are away
RECEIVE_MAXIMUM = 20_000  # unacknowledged messages in flight to us; MQTT allows up to 65535


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    mid: int
    received: datetime
    session: int  # connection generation: a mid is only valid on the connection it came on
    decoded: Decoded


@dataclass
class IngestStats:
    """Counters for /metrics and the benchmark."""

    messages: int = 0
    readings: int = 0
    stored: int = 0
    refused: int = 0
    acked: int = 0
    write_retries: int = 0
    events: int = 0
    last_error: str = ""

    def counts(self, source: str) -> dict[tuple[str, str], int]:
        """The counters as ``(source, name) -> value``, as `hub.counters.CounterSink` takes them."""
        return {(source, f.name): getattr(self, f.name) for f in fields(self) if f.type in (int, "int")}


@dataclass(frozen=True)
class BrokerAddress:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    mqtt5: bool = True  # False for brokers that speak only 3.1.1 (the demo's embedded one)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SensorIngest:
    """One ingest worker: a paho client feeding a writer thread. Several may share a group."""

    deployment: Deployment
    db: Database
    broker: BrokerAddress
    client_id: str = "offsite-iot"
    pipeline: Pipeline | None = None  # where rule events go; None: store readings only
    clock: Callable[[], datetime] = _now
    # Seconds between the writer's clock ticks of the sensor rules (silence, durations). None:
    # time passes only when `tick()` is called, as in the demo, which replays a backlog of past
    # readings and must not judge a sensor silent while its messages are still on their way.
    tick_every: float | None = 1.0
    stats: IngestStats = field(default_factory=IngestStats)

    def __post_init__(self) -> None:
        settings = self.deployment.iot
        self.decoder = Decoder(self.deployment)
        self.rules = SensorRules(self.deployment)
        self.health = SensorHealth(self.deployment)
        self._queue: queue.Queue[Message] = queue.Queue()
        self._stop = threading.Event()
        self._session = 0
        self._rules_lock = threading.Lock()  # the writer and `tick()` callers share the rule state
        self._watermark: datetime | None = None  # newest reading of a backlog being drained
        self._connected = threading.Event()
        self._batch_rows = settings.batch_rows
        self._batch_wait = settings.batch_wait
        v5 = self.broker.mqtt5
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if self.broker.username:
            self._client.username_pw_set(self.broker.username, self.broker.password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._writer = threading.Thread(target=self._write_loop, name="iot-writer", daemon=True)

    # --- network thread -------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker refused the connection: %s", reason)
            return
        self._session += 1
        topics = [
            subscription(self.deployment.iot.sensor_topic),
            subscription(self.deployment.iot.gateway_topic),
        ]
        group = self.deployment.iot.share_group
        client.subscribe([(f"$share/{group}/{t}" if group else t, 1) for t in topics])
        self._connected.set()

    def _on_disconnect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        # Decoding here, on the network thread, overlaps it with the writer's database round trips.
        payload, received = bytes(msg.payload), self.clock()
        try:
            decoded = self.decoder.decode(msg.topic, payload, received)
        except Exception as exc:  # a decoder bug must not lose the message or stop the client
            log.exception("decoding a message on %s failed", msg.topic)
            self.stats.last_error = str(exc)
            decoded = Decoded(refusals=[Refusal(f"internal error while decoding: {exc}"[:200])])
        self._queue.put(Message(msg.topic, payload, msg.mid, received, self._session, decoded))

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, *, wait: float = 10.0) -> None:
        """Connect with a persistent session, restore rule state, and start taking messages."""
        self._restore_rules()
        if self.broker.mqtt5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY
            props.ReceiveMaximum = RECEIVE_MAXIMUM
            self._client.connect_async(
                self.broker.host, self.broker.port, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(self.broker.host, self.broker.port)
        self._client.loop_start()
        self._writer.start()
        if wait and not self._connected.wait(wait):
            log.warning("no broker at %s:%s yet; still trying", self.broker.host, self.broker.port)

    def stop(self) -> None:
        """Finish the batch in hand, then disconnect; unacknowledged messages stay with the broker."""
        self._stop.set()
        self._writer.join(timeout=30)
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # --- writer thread ------------------------------------------------------------------------
    def _collect(self) -> list[Message]:
        batch: list[Message] = []
        rows = 0
        deadline = time.monotonic() + self._batch_wait
        while rows < self._batch_rows:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                message = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            batch.append(message)
            rows += max(1, len(message.decoded.readings))
        return batch

    def _write_loop(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            try:
                batch = self._collect()
                if batch:
                    self._handle(batch)
                else:
                    self._watermark = None  # nothing waiting: caught up, the wall clock rules again
                if self.tick_every is not None and time.monotonic() >= next_tick:
                    self.tick()
                    next_tick = time.monotonic() + self.tick_every
            except Exception as exc:  # the worker must outlive any one bad batch
                log.exception("iot writer error")
                self.stats.last_error = str(exc)

    def _handle(self, batch: list[Message]) -> None:
        readings: list[Reading] = []
        dead: list[DeadLetter] = []
        for message in batch:
            decoded = message.decoded
            readings += decoded.readings
            dead += [DeadLetter(message.received, message.topic, message.payload, r.sensor, r.reason)
                     for r in decoded.refusals]  # fmt: skip
        if not self._commit(readings, dead):
            return  # stopping with the database away: the broker redelivers later
        for message in batch:
            if message.session == self._session:
                self._client.ack(message.mid, 1)
                self.stats.acked += 1
        self.health.seen(readings, self.clock())
        newest = max((r.time for r in readings), default=None)
        if newest is not None:
            behind = newest < batch[-1].received - BACKLOG_LAG
            self._watermark = newest if behind else None
        with self._rules_lock:
            events = self.rules.feed(sorted(readings, key=lambda r: r.time))
        self._emit(events)
        # Counted last, so that a caller seeing the count knows the rules have taken the batch.
        self.stats.messages += len(batch)
        self.stats.readings += len(readings)
        self.stats.refused += len(dead)

    def _commit(self, readings: list[Reading], dead: list[DeadLetter]) -> bool:
        """Write until it succeeds, backing off while the database is away. False when stopping."""
        delay = 0.2
        while True:
            try:
                with self.db.pool.connection(timeout=5) as conn:
                    self.stats.stored += write_batch(conn, readings, dead)
                return True
            except (psycopg.OperationalError, PoolTimeout) as exc:
                self.stats.write_retries += 1
                self.stats.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.warning("database unavailable (%s); retrying in %.1f s", self.stats.last_error, delay)
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, 5.0)

    def tick(self) -> None:
        """Let time pass up to the clock's now: sensor health changes and the rules' silences.

        While a backlog is being drained the rules' time stops at its newest reading, so that a
        sensor whose queued readings have not all arrived yet is not judged silent.
        """
        now = self.clock()
        changes = self.health.changes(now)
        if changes:
            try:
                with self.db.pool.connection(timeout=5) as conn, conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO device_health (time, kind, device, status)"
                        " VALUES (%s, 'sensor', %s, %s)",
                        [(now, sensor, status) for sensor, status in changes],
                    )
            except (psycopg.OperationalError, PoolTimeout):
                self.health.retry(changes)
        watermark = self._watermark
        with self._rules_lock:
            events = self.rules.tick(now if watermark is None else min(now, watermark))
        self._emit(events)

    def _emit(self, events: list[Event]) -> None:
        if self.pipeline is None or not events:
            return
        for event in events:
            try:
                with self.db.pool.connection(timeout=5) as conn:
                    self.pipeline.take(conn, event)
                self.stats.events += 1
            except EventRejected as exc:
                log.warning("sensor rule event refused: %s", exc)

    def _restore_rules(self) -> None:
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


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()

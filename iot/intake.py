"""MQTT sensor messages -> readings in the database -> sensor rules -> hub events.

A message is acknowledged to the broker only after the readings it carries are committed, so a
crash or a database outage never loses an acknowledged reading: the broker keeps the persistent
session and redelivers what was not acknowledged, and the unique key (sensor, metric, time) makes
a redelivery store nothing twice.

Back-pressure comes from MQTT 5's Receive Maximum (`iot.queue`): the broker sends at most that
many unacknowledged messages, so memory stays bounded while the database is away; the in-memory
queue has the same bound, which holds MQTT 3.1.1 brokers back through TCP.

One bad message never stalls the others: what the decoder refuses becomes a dead letter, and a
batch the database still refuses is halved until the one message it refuses is found; that one
becomes a dead letter with the database's reason, every other message is stored, acknowledged
and given to the rules. Retained messages follow `iot.payloads` (refused without a time of their
own) and, on MQTT 5, are not replayed when the persistent session is resumed.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from psycopg_pool import PoolTimeout

from hub.config import Deployment
from hub.events import Event
from hub.sink import EventSink, Fate, HubUnavailable
from hub.store.db import Database
from hub.store.device_health import HealthChange, store_health
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
# What a message can make the database refuse: its data, never the database's state (that is an
# OperationalError, retried) nor our SQL (a ProgrammingError must not turn all data into dead letters).
REFUSED_BY_DATABASE = (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError)


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

    received: int = 0  # messages the broker delivered; `received - acked` are in the worker's hands
    messages: int = 0
    readings: int = 0
    stored: int = 0
    refused: int = 0
    acked: int = 0
    write_retries: int = 0
    bisections: int = 0  # batches the database refused, halved to find the message it refuses
    connections: int = 0  # sessions with the broker: more than one is a reconnection
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
    tls: bool = False  # verified against the system's CAs, or the file SSL_CERT_FILE names

    @classmethod
    def from_url(cls, url: str, username: str | None = None, password: str | None = None) -> BrokerAddress:
        """``mqtt://HOST[:PORT]`` (default 1883) or ``mqtts://HOST[:PORT]`` (TLS, default 8883)."""
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        port = parts.port or (8883 if tls else 1883)
        return cls(parts.hostname or "127.0.0.1", port, username, password, tls=tls)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SensorIngest:
    """One ingest worker: a paho client feeding a writer thread. Several may share a group."""

    deployment: Deployment
    db: Database
    broker: BrokerAddress
    client_id: str = ""  # empty: `client_id_for(deployment)`
    sink: EventSink | None = None  # where rule events go (durable in `offsite iot run`); None: readings only
    clock: Callable[[], datetime] = _now
    # Seconds between the writer's clock ticks of the sensor rules (silence, durations). None:
    # time passes only when `tick()` is called, as in the demo, which replays a backlog of past
    # readings and must not judge a sensor silent while its messages are still on their way.
    tick_every: float | None = 1.0
    stats: IngestStats = field(default_factory=IngestStats)

    def __post_init__(self) -> None:
        settings = self.deployment.iot
        self.client_id = self.client_id or client_id_for(self.deployment)
        self.decoder = Decoder(self.deployment)
        self.rules = SensorRules(self.deployment)
        self.health = SensorHealth(self.deployment)
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=settings.queue)
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
        if self.broker.tls:
            self._client.tls_set()  # the system's trust store; paho checks the host name too
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
        self.stats.connections += 1
        topics = [
            subscription(self.deployment.iot.sensor_topic),
            subscription(self.deployment.iot.gateway_topic),
        ]
        group = self.deployment.iot.share_group
        filters = [f"$share/{group}/{t}" if group else t for t in topics]
        if self.broker.mqtt5:  # a resumed session's subscriptions exist: no replay of retained messages
            options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
            client.subscribe([(f, options) for f in filters])
        else:
            client.subscribe([(f, 1) for f in filters])
        self._connected.set()

    def _on_disconnect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        # Decoding here, on the network thread, overlaps it with the writer's database round trips.
        payload, received = bytes(msg.payload), self.clock()
        try:
            decoded = self.decoder.decode(msg.topic, payload, received, retained=bool(msg.retain))
        except Exception as exc:  # a decoder bug must not lose the message or stop the client
            log.exception("decoding a message on %s failed", msg.topic)
            self.stats.last_error = str(exc)
            decoded = Decoded(refusals=[Refusal(f"internal error while decoding: {exc}"[:200])])
        message = Message(msg.topic, payload, msg.mid, received, self._session, decoded)
        self.stats.received += 1
        while not self._stop.is_set():  # full: the writer is behind; waiting here holds the broker back
            try:
                self._queue.put(message, timeout=0.5)
                return
            except queue.Full:
                continue

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, *, wait: float = 10.0) -> None:
        """Connect with a persistent session, restore rule state, and start taking messages."""
        self._restore_rules()
        if self.broker.mqtt5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY
            props.ReceiveMaximum = self.deployment.iot.queue
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
        stored = self._commit(batch)
        if stored is None:
            return  # stopping with the database away: the broker redelivers later
        readings = [r for message in stored for r in message.decoded.readings]
        for message in stored:
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
        self.stats.messages += len(stored)
        self.stats.readings += len(readings)
        self.stats.refused += sum(len(m.decoded.refusals) for m in stored)

    def _commit(self, batch: list[Message]) -> list[Message] | None:
        """Store the batch; None when stopping first. Returns the messages as stored.

        A batch the database refuses is halved until the one message it refuses is found: that
        message comes back as its dead letter, with the database's reason.
        """
        try:
            return batch if self._write(batch) else None
        except REFUSED_BY_DATABASE as exc:
            self.stats.bisections += 1
            if len(batch) == 1:
                refused = _refused(batch[0], exc)
                log.warning("dead letter on %s: %s", refused.topic, refused.decoded.refusals[0].reason)
                return [refused] if self._write([refused]) else None
            half = len(batch) // 2
            first = self._commit(batch[:half])
            second = self._commit(batch[half:]) if first is not None else None
            return None if first is None or second is None else first + second

    def _write(self, batch: list[Message]) -> bool:
        """Write until it succeeds, backing off while the database is away. False when stopping."""
        readings = [r for message in batch for r in message.decoded.readings]
        dead = [DeadLetter(m.received, m.topic, m.payload, r.sensor, r.reason)
                for m in batch for r in m.decoded.refusals]  # fmt: skip
        delay = 0.2
        while True:
            try:
                with self.db.pool.connection(timeout=5) as conn:
                    stored = write_batch(conn, readings, dead)
                self.stats.stored += stored
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
                with self.db.pool.connection(timeout=5) as conn:
                    store_health(conn, [HealthChange(now, "sensor", s, status) for s, status in changes])
            except (psycopg.OperationalError, PoolTimeout):
                self.health.retry(changes)
        watermark = self._watermark
        with self._rules_lock:
            events = self.rules.tick(now if watermark is None else min(now, watermark))
        self._emit(events)

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


def client_id_for(deployment: Deployment) -> str:
    """The ingest's MQTT client id from `broker.client_id`.

    In a share group several workers take the same configuration: each adds its host name, so
    their ids differ and each resumes its own persistent session after a restart.
    """
    base = deployment.broker.client_id
    return f"{base}-{socket.gethostname()}" if deployment.iot.share_group else base


def _refused(message: Message, exc: Exception) -> Message:
    """`message` as the dead letter the database's refusal makes of it."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    sensors = {r.sensor for r in message.decoded.readings}
    sensor = sensors.pop() if len(sensors) == 1 else None
    refusal = Refusal(f"the database refused the message ({type(exc).__name__}): {first}"[:300], sensor)
    return replace(message, decoded=Decoded(refusals=[refusal]))


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()

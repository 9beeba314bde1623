"""Sensors wired to a box: the site's MQTT broker -> readings in the box's outbox -> the sensor
rules on the box -> events in the event outbox.

The box takes the same payloads as the hub's ingest, with the same receive loops and decoder
(`iot.receiver`, `iot.mqtt5_receiver`, `iot.payloads` with its units), from the site's own broker
(``OFFSITE_MQTT_URL`` and the other ``OFFSITE_MQTT_*`` variables, as for the hub's ingest, else
the config's `broker.url`). A message is acknowledged once its readings are committed to the
readings outbox (`edge.readings`), which ships them to the hub's `POST /edge/readings`. A box
takes its site's sensors when the site says so (``sensors_at_edge: true``); the hub's own ingest
then leaves them alone (`hub.config.edge.hub_sensors`), so that each sensor is judged in one place.

Where the rules judge: on the box, as they do for its cameras. The box runs the same
`iot.rules.SensorRules` on the readings as they are committed and puts their events into the
same outbox as its cameras' events, so they reach the hub in order, once, paced after an outage,
with their late arrival recorded (`POST /events`), and the hub's fusion rules take them like any
event. Judging at the hub instead would make an uplink outage look, to the hub, like every
sensor of the site falling silent (offline, `after` elapsing), and would need rule state per
site in the stateless API processes. The rules stamp each transition with a moment of the data,
so after a restart (`kill -9` included) they are rebuilt from the readings the outbox keeps for
their look-back and replay the same event ids, which the hub takes once.

Refused messages (dead letters) are logged and counted on the box; they are not shipped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from edge.readings import ReadingsOutbox
from hub.config import Deployment, Settings
from hub.config.edge import sensors_of
from hub.events import Event
from hub.sink import EventSink
from hub.store.device_health import HealthChange
from iot.clock import BACKLOG_LAG
from iot.health import SensorHealth
from iot.mqtt5_receiver import Mqtt5Receiver
from iot.payloads import Decoder
from iot.readings import Reading
from iot.receiver import BrokerAddress, Message, MqttReceiver
from iot.rules import SensorRules
from iot.stats import IngestStats

log = logging.getLogger(__name__)

TICK_EVERY = 1.0  # seconds between the rules' clock ticks (silences, durations)


def site_broker(deployment: Deployment) -> BrokerAddress:
    """The site's broker: ``OFFSITE_MQTT_URL`` (with ``OFFSITE_MQTT_USERNAME``, ``_PASSWORD``,
    ``_CERT``, ``_KEY``) as for the hub's ingest, else the config's `broker.url`. ValueError
    names a client certificate that does not load."""
    settings = Settings(env="development")  # the box has no database: only the MQTT settings count
    return BrokerAddress.from_settings(settings.mqtt_url or deployment.broker.url, settings)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BoxSensors:
    """The site's sensors on the box: the receive loop feeding a thread that commits readings to
    `outbox`, acknowledges them and runs the sensor rules, whose events go to `events`."""

    deployment: Deployment
    site: str
    broker: BrokerAddress
    outbox: ReadingsOutbox
    events: EventSink
    clock: Callable[[], datetime] = _now
    client_id: str = ""  # the MQTT client id of its persistent session; empty: offsite-edge-SITE
    stats: IngestStats = field(default_factory=IngestStats)

    def __post_init__(self) -> None:
        self.deployment = sensors_of(self.deployment, {self.site})
        self.client_id = self.client_id or f"offsite-edge-{self.site}"
        self._stop = threading.Event()
        receiver = Mqtt5Receiver if self.broker.mqtt5 else MqttReceiver
        self.receiver: Mqtt5Receiver | MqttReceiver = receiver(
            self.deployment, self.broker, self.client_id, Decoder(self.deployment),
            self.clock, self.stats, self._stop,
        )  # fmt: skip
        self.rules = SensorRules(self.deployment)
        self.health = SensorHealth(self.deployment)  # online/offline, by arrival: the box hears them
        self.outbox.keep = self.rules.lookback()
        self._watermark: datetime | None = None  # newest reading of a backlog being drained
        self._thread = threading.Thread(target=self._run, name="edge-sensors", daemon=True)

    @property
    def wanted(self) -> bool:
        """Whether the box takes the site's sensors: the site says so (`sensors_at_edge`; else
        the hub's ingest takes them) and has some."""
        return self.deployment.site_by_id[self.site].sensors_at_edge and bool(self.deployment.sensors)

    def changed(self, deployment: Deployment) -> bool:
        """Whether `deployment` changes what the box's sensors take or how they are judged."""
        new = sensors_of(deployment, {self.site})
        now = self.deployment
        return (new.sites, new.sensors, new.gateways, new.rules, new.iot, new.broker, new.timezone) != (
            now.sites, now.sensors, now.gateways, now.rules, now.iot, now.broker, now.timezone
        )  # fmt: skip

    def start(self, *, wait: float = 10.0) -> None:
        """Rebuild the rules from the readings kept, then connect and take messages."""
        self._restore()
        self.receiver.start()
        self._thread.start()
        if wait and not self.receiver.wait_connected(wait):
            log.warning("no broker at %s:%s yet; still trying", self.broker.host, self.broker.port)

    def stop(self) -> None:
        """Finish the batch in hand, then disconnect; what is not acknowledged stays with the broker."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.receiver.stop()

    def wait_connected(self, timeout: float) -> bool:
        return self.receiver.wait_connected(timeout)

    def _restore(self) -> None:
        now = self.clock()
        sensors = list(self.deployment.sensor_by_id)
        if not sensors:
            return
        kept = self.outbox.recent(sensors, now - self.rules.lookback())
        new = frozenset(sensors) - self.outbox.heard(sensors)
        self._emit(self.rules.restore(kept, now, new))

    def _run(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            try:
                batch = self._collect()
                if batch:
                    self._handle(batch)
                else:
                    self._watermark = None  # nothing waits: the wall clock rules again
                if time.monotonic() >= next_tick:
                    now = self.clock()
                    watermark = self._watermark
                    self._emit(self.rules.tick(now if watermark is None else min(now, watermark)))
                    changes = self.health.changes(now)
                    self.outbox.put_health([HealthChange(now, "sensor", s, status) for s, status in changes])
                    next_tick = time.monotonic() + TICK_EVERY
            except Exception as exc:  # the worker must outlive any one bad batch
                log.exception("edge sensors error")
                self.stats.last_error = str(exc)
                self._stop.wait(1.0)

    def _collect(self) -> list[Message]:
        """Up to `iot.batch_rows` readings' messages, waiting `iot.batch_wait` for the first."""
        settings = self.deployment.iot
        try:
            batch = [self.receiver.queue.get(timeout=settings.batch_wait)]
        except queue.Empty:
            return []
        rows = len(batch[0].decoded.readings)
        while rows < settings.batch_rows:
            try:
                message = self.receiver.queue.get_nowait()
            except queue.Empty:
                break
            batch.append(message)
            rows += len(message.decoded.readings)
        return batch

    def _handle(self, batch: list[Message]) -> None:
        readings = [r for m in batch for r in m.decoded.readings]
        for message in batch:
            for refusal in message.decoded.refusals:
                log.warning("refused on %s: %s", message.topic, refusal.reason)
        self.outbox.put(readings)  # raises on a full disk: nothing acknowledged, the broker keeps it
        self.stats.acked += self.receiver.ack_all(batch)
        self._feed(readings, batch[-1].received)
        self.stats.messages += len(batch)
        self.stats.readings += len(readings)
        self.stats.refused += sum(len(m.decoded.refusals) for m in batch)

    def _feed(self, readings: list[Reading], received: datetime) -> None:
        self.health.seen(readings, self.clock())
        newest = max((r.time for r in readings), default=None)
        if newest is not None:  # a backlog (the broker's queue after the box was down): data time
            self._watermark = newest if newest < received - BACKLOG_LAG else None
        self._emit(self.rules.feed(sorted(readings, key=lambda r: r.time)))

    def _emit(self, events: list[Event]) -> None:
        if events:
            self.events.take(events)
            self.stats.events += len(events)

"""MQTT sensor messages -> readings in the database -> sensor rules -> hub events.

Three parts, each in its module: the MQTT receive loop (`iot.mqtt5_receiver` for MQTT 5 brokers,
`iot.receiver` on paho for 3.1.1 ones),
the batch writer (`iot.batches`, this module's writer thread) and the rules' clock (`iot.clock`).

A message is acknowledged to the broker only after the readings it carries are committed, so a
crash or a database outage never loses an acknowledged reading: the broker keeps the persistent
session and redelivers what was not acknowledged, and the unique key (sensor, metric, time) makes
a redelivery store nothing twice. The rule events those readings make go to an `EventSink`;
`offsite iot run` gives a durable one, so a database error after the acknowledgement loses none.

One bad message never stalls the others: what the decoder refuses becomes a dead letter, and a
batch the database still refuses is halved until the one message it refuses is found; that one
becomes a dead letter with the database's reason, every other message is stored, acknowledged
and given to the rules. Retained messages follow `iot.payloads` (refused without a time of their
own) and, on MQTT 5, are not replayed when the persistent session is resumed.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.config import Deployment
from hub.sink import EventSink
from hub.store.db import Database
from iot.batches import BatchWriter
from iot.clock import RulesClock
from iot.mqtt5_receiver import Mqtt5Receiver
from iot.payloads import Decoder
from iot.receiver import BrokerAddress, Message, MqttReceiver, client_id_for
from iot.stats import IngestStats

__all__ = ["BrokerAddress", "IngestStats", "SensorIngest", "client_id_for"]

log = logging.getLogger(__name__)


# Python's collector walks the objects of its younger generations each time 700 new ones have
# come (its default), and every object now and then: with tens of thousands of messages waiting in
# the queue that was a third to a half of the receive loop's CPU (BENCHMARKS.md). Collecting the
# youngest generation every 50 000 instead frees as much, less often.
YOUNG_GENERATION = 50_000


def _now() -> datetime:
    return datetime.now(UTC)


def collect_less_often() -> None:
    """Raise the garbage collector's first threshold to `YOUNG_GENERATION` for this process
    (never lower it): the intake's message rate makes the default collect every few messages."""
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_GENERATION:  # 0: collection is off, left so
        gc.set_threshold(YOUNG_GENERATION, middle, old)


@dataclass
class SensorIngest:
    """One intake worker: the receive loop feeding the batch writer's thread, which feeds the
    rules' clock. Several may share a subscription group."""

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
        self.client_id = self.client_id or client_id_for(self.deployment)
        self.decoder = Decoder(self.deployment)
        self._stop = threading.Event()
        # MQTT 5 brokers: our asyncio reader on the `mqtt5` codec; 3.1.1 brokers (the demo's): paho.
        receiver = Mqtt5Receiver if self.broker.mqtt5 else MqttReceiver
        self.receiver: Mqtt5Receiver | MqttReceiver = receiver(
            self.deployment, self.broker, self.client_id, self.decoder, self.clock, self.stats, self._stop
        )
        self.batches = BatchWriter(self.db, self.deployment.iot, self.stats, self._stop)
        self.rules = RulesClock(self.deployment, self.db, self.sink, self.clock, self.stats)
        self._writer = threading.Thread(target=self._write_loop, name="iot-writer", daemon=True)

    def start(self, *, wait: float = 10.0) -> None:
        """Connect with a persistent session, restore rule state, and start taking messages."""
        collect_less_often()
        self.rules.restore()
        self.receiver.start()
        self._writer.start()
        if wait and not self.receiver.wait_connected(wait):
            log.warning("no broker at %s:%s yet; still trying", self.broker.host, self.broker.port)

    def stop(self) -> None:
        """Finish the batch in hand, then disconnect; unacknowledged messages stay with the broker."""
        self._stop.set()
        self._writer.join(timeout=30)
        self.receiver.stop()

    def wait_connected(self, timeout: float) -> bool:
        return self.receiver.wait_connected(timeout)

    def tick(self) -> None:
        """Let time pass for the sensor rules and sensor health (see `RulesClock.tick`)."""
        self.rules.tick()

    def _write_loop(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            try:
                batch = self.batches.collect(self.receiver.queue)
                if batch:
                    self._handle(batch)
                else:
                    self.rules.caught_up()
                if self.tick_every is not None and time.monotonic() >= next_tick:
                    self.rules.tick()
                    next_tick = time.monotonic() + self.tick_every
            except Exception as exc:  # the worker must outlive any one bad batch
                log.exception("iot writer error")
                self.stats.last_error = str(exc)

    def _handle(self, batch: list[Message]) -> None:
        stored = self.batches.commit(batch)
        if stored is None:
            return  # stopping with the database away: the broker redelivers later
        readings = [r for message in stored for r in message.decoded.readings]
        self.stats.acked += self.receiver.ack_all(stored)
        self.rules.feed(readings, batch[-1].received)
        # Counted last, so that a caller seeing the count knows the rules have taken the batch.
        self.stats.messages += len(stored)
        self.stats.readings += len(readings)
        self.stats.refused += sum(len(m.decoded.refusals) for m in stored)

"""The MQTT 5 receive loop (`iot.mqtt5_receiver`) on a real Mosquitto, and on a fake broker for
what Mosquitto never does (garbage on the wire, pings left unanswered)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mqtt5
import pytest

from harness.mosquitto import Broker, start_broker
from hub.config import Deployment
from hub.host import free_port, wait_until
from hub.store.db import Database
from iot.intake import SensorIngest
from iot.mqtt5_receiver import Mqtt5Receiver
from iot.payloads import Decoder
from iot.receiver import BrokerAddress
from iot.stats import IngestStats
from tests.iot.conftest import TEMP_TOPIC, iot_config
from tests.iot.test_intake import T0, Publisher, make_certificates, reading, stored


@pytest.fixture
def broker() -> Iterator[Broker]:
    started = start_broker()
    yield started
    started.remove()


def receiver(
    deployment: Deployment, port: int, client_id: str = "receiver", keep_alive: int = 30
) -> Mqtt5Receiver:
    return Mqtt5Receiver(
        deployment, BrokerAddress(port=port), client_id, Decoder(deployment), lambda: datetime.now(UTC),
        IngestStats(), threading.Event(), keep_alive=keep_alive,
    )  # fmt: skip


def backlog(
    broker: Broker, count: int, client_id: str = "receiver", deployment: Deployment | None = None
) -> None:
    """`count` readings queued at the broker for `client_id`'s persistent session."""
    first = receiver(deployment or iot_config(), broker.port, client_id)
    first.start()
    assert first.wait_connected(10)
    first.stop()
    device = Publisher(broker)
    for i in range(count):
        device.send(TEMP_TOPIC, reading(i))
    device.finish()


def test_receive_maximum_holds_the_broker_to_iot_queue(broker: Broker) -> None:
    deployment = iot_config(queue=10)
    backlog(broker, 60, deployment=deployment)
    worker = receiver(deployment, broker.port)
    worker.start()
    try:
        assert worker.wait_connected(10)
        assert worker.round_trip(10)  # whatever the broker sent before its PINGRESP is in
        assert worker.stats.received == 10 and worker.queue.qsize() == 10
        # Acknowledging frees the window. Mosquitto 2.0 then sends more than it frees; the surplus
        # waits outside the queue, which never holds more than `iot.queue`, and none is lost.
        seen: list[int] = []
        while len(seen) < 60:
            message = worker.queue.get(timeout=10)
            assert worker.queue.qsize() <= 10
            seen.append(json.loads(message.payload)["temperature"])
            assert worker.ack(message)
        assert worker.round_trip(10) and worker.stats.received == 60
    finally:
        worker.stop()
    assert seen == [reading(i)["temperature"] for i in range(60)]


def test_a_backlog_drains_over_tls_through_a_broker_restart(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3000 readings for the session while the worker holds its window full (the database is
    locked); the broker restarts, then the database frees and the backlog drains: every reading
    stored once, in order, each message acknowledged once (those of the lost connection never)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(make_certificates(tmp_path)))
    plain = free_port()  # the devices' listener; the ingest's is TLS
    broker = start_broker(
        f"certfile {tmp_path / 'server.pem'}\nkeyfile {tmp_path / 'server.key'}\nlistener {plain} 127.0.0.1\n"
    )
    deployment = iot_config(queue=500, batch_rows=100, batch_wait=0.05)
    address = BrokerAddress.from_url(f"mqtts://127.0.0.1:{broker.port}")
    try:
        ingest = SensorIngest(deployment, db, address, client_id="drain")
        ingest.start()
        try:
            assert ingest.wait_connected(10)
            with db.pool.connection() as blocker:
                blocker.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")  # the writer waits here
                device = Publisher(replace(broker, port=plain))
                for i in range(3000):
                    device.send(TEMP_TOPIC, reading(i))
                device.finish()  # 500 in the worker's hands, the rest queued for its session
                assert wait_until(lambda: ingest.stats.received >= 500, 20), ingest.stats
                broker.stop()
                broker.start()
                assert wait_until(lambda: ingest.stats.connections == 2 and ingest.wait_connected(0), 20)
            assert wait_until(lambda: ingest.stats.acked == 3000, 60), ingest.stats
        finally:
            ingest.stop()
    finally:
        broker.remove()
    assert [r[2] for r in stored(db)] == [T0 + timedelta(seconds=i) for i in range(3000)]
    assert ingest.stats.stored == 3000 and ingest.stats.acked == 3000


def test_keep_alive_pings_hold_an_idle_connection(broker: Broker) -> None:
    """Mosquitto drops a client silent for 1.5 keep-alive periods; pings keep ours."""
    worker = receiver(iot_config(), broker.port, keep_alive=1)
    worker.start()
    try:
        assert worker.wait_connected(10)
        assert wait_until(lambda: worker.pongs >= 4, 20)  # four pings: well past 1.5 s idle
        assert worker.stats.connections == 1 and worker.wait_connected(0)
    finally:
        worker.stop()


class FakeBroker:
    """Accepts MQTT 5 connections, grants the subscriptions, then misbehaves as told: `garbage`
    sends a message and then bytes no MQTT packet starts with; `silent` never answers pings."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.packets: list[object] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._converse, args=(conn,), daemon=True).start()

    def _converse(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while data := conn.recv(65536):
                buffer += data
                while buffer:
                    try:
                        packet, size = mqtt5.read(memoryview(buffer))
                    except IndexError:
                        break
                    buffer = buffer[size:]
                    self.packets.append(packet)
                    conn.sendall(self._answer(packet))

    def _answer(self, packet: object) -> bytes:
        if isinstance(packet, mqtt5.ConnectPacket):
            return mqtt5.ConnAckPacket(session_present=True).write()
        if isinstance(packet, mqtt5.SubscribePacket):
            granted = [mqtt5.SubAckReasonCode.GRANTED_QOS_AT_LEAST_ONCE] * len(packet.topic_filters)
            suback = mqtt5.SubAckPacket(packet.packet_id, granted).write()
            body = json.dumps(reading(0)).encode()
            message = mqtt5.PublishPacket(TEMP_TOPIC, body, qos=mqtt5.QoS.AT_LEAST_ONCE, packet_id=7).write()
            return suback + message + (b"\x00\x00garbage" if self.behaviour == "garbage" else b"")
        if isinstance(packet, mqtt5.PingReqPacket) and self.behaviour != "silent":
            return mqtt5.PingRespPacket().write()
        return b""

    def close(self) -> None:
        self.server.close()


def test_garbage_from_the_broker_is_logged_and_the_connection_remade(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeBroker("garbage")
    worker = receiver(iot_config(), fake.port)
    caplog.set_level(logging.ERROR, logger="iot.mqtt5_receiver")
    worker.start()
    try:
        message = worker.queue.get(timeout=10)  # what came before the garbage is kept
        assert json.loads(message.payload) == reading(0) and message.mid == 7
        assert wait_until(lambda: fake.connections >= 2 and worker.stats.connections >= 2, 20)
        assert not worker.ack(message)  # its connection is gone: never acknowledged on another
        assert wait_until(lambda: worker.stats.connections >= 3, 20)  # the loop lives on, backing off
    finally:
        worker.stop()
        fake.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"malformed packet from the broker at 127.0.0.1:{fake.port}" in e for e in errors), errors
    assert "Invalid PacketType" in worker.stats.last_error or "malformed" in worker.stats.last_error


def test_a_broker_that_stops_answering_pings_is_left_and_reconnected() -> None:
    fake = FakeBroker("silent")
    worker = receiver(iot_config(), fake.port, keep_alive=1)
    worker.start()
    try:
        assert worker.wait_connected(10)
        assert wait_until(lambda: fake.connections >= 2, 20)
        assert "keep-alive" in worker.stats.last_error
    finally:
        worker.stop()
        fake.close()


def test_stop_sends_the_acknowledgements_in_hand_and_a_disconnect() -> None:
    fake = FakeBroker("polite")
    worker = receiver(iot_config(), fake.port)
    worker.start()
    assert worker.wait_connected(10)
    message = worker.queue.get(timeout=10)
    assert worker.ack(message)
    worker.stop()
    fake.close()
    assert wait_until(lambda: isinstance(fake.packets[-1], mqtt5.DisconnectPacket), 5), fake.packets
    assert [p.packet_id for p in fake.packets if isinstance(p, mqtt5.PubAckPacket)] == [7]

"""MQTT -> readings on a real Mosquitto and real databases: exactly once through outages, bad data aside."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from harness.mosquitto import Broker, start_broker
from harness.pgcluster import start_cluster
from hub.config import Deployment
from hub.config.deployment import Broker as BrokerSettings
from hub.counters import CounterSink, ingest_totals
from hub.host import wait_until
from hub.pipeline import Pipeline
from hub.sink import InProcessSink
from hub.store.db import Database, open_database
from iot.intake import BrokerAddress, SensorIngest
from tests.conftest import Server
from tests.iot.conftest import GATEWAY_TOPIC, TEMP_TOPIC, iot_config

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


@pytest.fixture
def broker() -> Iterator[Broker]:
    started = start_broker()
    yield started
    started.remove()


def stored(db: Database) -> list[tuple[str, str, datetime, float]]:
    with db.pool.connection() as conn:
        return conn.execute(
            "SELECT sensor, metric, time, value FROM readings ORDER BY time, sensor"
        ).fetchall()


def row_count(db: Database, table: str) -> int:
    with db.pool.connection() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


class Publisher:
    """A device-side paho client with a persistent session, publishing at QoS 1.

    A message published while the broker is away is kept by paho and sent on reconnection (its
    `rc` says "not connected"), so completion is counted from the broker's PUBACKs, not from `rc`.
    """

    def __init__(self, broker: Broker, client_id: str = "test-device") -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.on_publish = self._on_publish
        self._lock = threading.Lock()
        self.sent: set[int] = set()
        self.acked: set[int] = set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_publish(self, _c: object, _u: object, mid: int, _r: object, _p: object) -> None:
        with self._lock:
            self.acked.add(mid)

    def send(self, topic: str, body: object) -> None:
        self.send_raw(topic, json.dumps(body))

    def send_raw(self, topic: str, payload: bytes | str) -> None:
        info = self.client.publish(topic, payload, qos=1)
        assert info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN), info.rc  # queued either way
        with self._lock:
            self.sent.add(info.mid)

    def finish(self, timeout: float = 30) -> None:
        def done() -> bool:
            with self._lock:
                return self.sent <= self.acked

        assert wait_until(done, timeout), "publisher did not finish"
        self.client.loop_stop()
        self.client.disconnect()


def reading(i: int) -> dict[str, object]:
    return {"temperature": -20 + (i % 7) * 0.5, "ts": (T0 + timedelta(seconds=i)).isoformat()}


def make_ingest(
    deployment: Deployment, db: Database, broker: Broker, client_id: str = "ingest"
) -> SensorIngest:
    ingest = SensorIngest(deployment, db, BrokerAddress(port=broker.port), client_id=client_id)
    ingest.start()
    assert ingest.wait_connected(10)
    return ingest


def test_readings_from_paho_and_mosquitto_pub_are_stored(
    deployment: Deployment, db: Database, broker: Broker
) -> None:
    ingest = make_ingest(deployment, db, broker)
    try:
        device = Publisher(broker)
        for i in range(300):
            device.send(TEMP_TOPIC, reading(i))
        device.finish()
        stamp = (T0 + timedelta(hours=1)).isoformat()
        gateway = [{"sensor": "coldstore-temp", "temperature": -17.5, "ts": stamp},
                   {"sensor": "dock-humidity", "rh": 612, "ts": stamp}]  # fmt: skip
        command = ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", GATEWAY_TOPIC]
        subprocess.run([*command, "-m", json.dumps(gateway)], check=True, timeout=10)
        assert wait_until(lambda: row_count(db, "readings") == 302, 20), ingest.stats
    finally:
        ingest.stop()
    expected = [
        ("coldstore-temp", "temperature", T0 + timedelta(seconds=i), -20 + (i % 7) * 0.5) for i in range(300)
    ]
    expected += [("coldstore-temp", "temperature", T0 + timedelta(hours=1), -17.5),
                 ("dock-humidity", "rh", T0 + timedelta(hours=1), 61.2)]  # fmt: skip
    assert stored(db) == sorted(expected, key=lambda r: (r[2], r[0]))
    assert ingest.stats.acked == 301 and ingest.stats.refused == 0


def test_broker_restart_mid_stream_loses_and_duplicates_nothing(
    deployment: Deployment, db: Database, broker: Broker
) -> None:
    ingest = make_ingest(deployment, db, broker)
    try:
        device = Publisher(broker)
        for i in range(1500):
            device.send(TEMP_TOPIC, reading(i))
            if i == 700:
                broker.stop()
                broker.start()
        device.finish(timeout=60)
        assert wait_until(lambda: row_count(db, "readings") == 1500, 30), row_count(db, "readings")
    finally:
        ingest.stop()
    times = [r[2] for r in stored(db)]
    assert times == [T0 + timedelta(seconds=i) for i in range(1500)]


def test_database_outage_mid_stream_loses_and_duplicates_nothing(
    deployment: Deployment, broker: Broker, server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if server.kind != "timescaledb":  # one run is enough: this test owns a server it can stop
        assert server.kind == "embedded"
        return
    cluster = start_cluster(tmp_path_factory.mktemp("outage"), timescaledb=True)
    db = open_database(cluster.dsn, Path(tmp_path_factory.mktemp("outage-data")), pool_size=2)
    try:
        from hub.store.migrate import upgrade

        upgrade(db)
        ingest = make_ingest(deployment, db, broker)
        try:
            device = Publisher(broker)
            for i in range(400):
                device.send(TEMP_TOPIC, reading(i))
            assert wait_until(lambda: row_count(db, "readings") >= 100, 20)
            cluster.stop()
            for i in range(400, 1200):
                device.send(TEMP_TOPIC, reading(i))
            device.finish()
            assert wait_until(lambda: ingest.stats.write_retries > 0, 15)
            cluster.start()
            assert wait_until(lambda: row_count(db, "readings") == 1200, 40), ingest.stats
        finally:
            ingest.stop()
        assert [r[2] for r in stored(db)] == [T0 + timedelta(seconds=i) for i in range(1200)]
    finally:
        db.close()
        cluster.remove()


def test_ingest_restart_redelivers_unacknowledged_messages(
    deployment: Deployment, db: Database, broker: Broker
) -> None:
    first = make_ingest(deployment, db, broker, client_id="ingest-persistent")
    first.stop()  # the session stays with the broker, which keeps what arrives meanwhile
    device = Publisher(broker)
    for i in range(500):
        device.send(TEMP_TOPIC, reading(i))
    device.finish()
    second = make_ingest(deployment, db, broker, client_id="ingest-persistent")
    try:
        assert wait_until(lambda: row_count(db, "readings") == 500, 20), row_count(db, "readings")
    finally:
        second.stop()


BAD_PAYLOADS: list[tuple[str, bytes, str]] = [
    (TEMP_TOPIC, b"not json {", "payload is not JSON"),
    (TEMP_TOPIC, b'{"temperature": NaN}', "value is not finite"),
    (TEMP_TOPIC, b'{"temperature": "cold"}', "value must be a number"),
    (TEMP_TOPIC, b'{"temperature": 900}', "outside physical bounds"),
    ("sites/lintong-coldstore/sensors/ghost/telemetry", b'{"temperature": 1}', "unknown sensor 'ghost'"),
    ("sites/lintong-coldstore/sensors/coldstore-temp/status", b"1", None),  # not subscribed: never seen
    (TEMP_TOPIC, b"[" * 70_000 + b"]" * 70_000, "nested too deeply"),
    (TEMP_TOPIC, b"1" * 300_000, "exceeds"),
    (TEMP_TOPIC, b'{"temperature": -20, "ts": "2099-01-01T00:00:00Z"}', "in the future"),
    (GATEWAY_TOPIC, b'[{"sensor": "coldstore-gas", "lel": 3}]', "is not behind gateway"),
]  # type: ignore[list-item]


def test_malformed_payloads_go_to_dead_letters_and_good_ones_are_kept(
    deployment: Deployment, db: Database, broker: Broker
) -> None:
    ingest = make_ingest(deployment, db, broker)
    try:
        device = Publisher(broker)
        for i in range(1000):
            topic, payload, _ = BAD_PAYLOADS[i % len(BAD_PAYLOADS)]
            device.send_raw(topic, payload)
            device.send(TEMP_TOPIC, reading(i))
        device.finish(timeout=60)
        expected_dead = sum(1 for i in range(1000) if BAD_PAYLOADS[i % len(BAD_PAYLOADS)][2] is not None)
        assert wait_until(
            lambda: row_count(db, "readings") == 1000 and row_count(db, "dead_letters") == expected_dead, 30
        ), (row_count(db, "readings"), row_count(db, "dead_letters"))
    finally:
        ingest.stop()
    with db.pool.connection() as conn:
        reasons = [r[0] for r in conn.execute("SELECT reason FROM dead_letters ORDER BY id").fetchall()]
        heads = conn.execute(
            "SELECT max(length(payload_head)), max(payload_size) FROM dead_letters"
        ).fetchone()
    for _, _, reason in BAD_PAYLOADS:
        if reason is not None:
            assert any(reason in r for r in reasons), reason
    assert heads is not None and heads[0] <= 256 and heads[1] == 300_000
    assert [r[2] for r in stored(db)] == [T0 + timedelta(seconds=i) for i in range(1000)]


def test_many_workers_share_the_load(deployment: Deployment, db: Database, broker: Broker) -> None:
    from tests.iot.conftest import iot_config

    shared = iot_config(share_group="ingest")
    workers = [make_ingest(shared, db, broker, client_id=f"worker-{n}") for n in range(2)]
    try:
        device = Publisher(broker)
        for i in range(600):
            device.send(TEMP_TOPIC, reading(i))
        device.finish()
        assert wait_until(lambda: row_count(db, "readings") == 600, 20)
    finally:
        for worker in workers:
            worker.stop()
    assert all(w.stats.messages > 0 for w in workers), [w.stats.messages for w in workers]
    assert sum(w.stats.messages for w in workers) == 600
    # What `offsite iot run` reports for /metrics: each worker's own, adding up to the whole.
    for worker in workers:
        CounterSink("sensors").report(db, worker.stats.counts(worker.client_id))
    with db.transaction() as conn:
        stored = {s: v for kind, s, counter, v in ingest_totals(conn) if counter == "stored"}
    assert stored == {w.client_id: w.stats.stored for w in workers} and sum(stored.values()) == 600


def test_a_worker_survives_a_failing_batch(deployment: Deployment, db: Database, broker: Broker) -> None:
    ingest = make_ingest(deployment, db, broker)
    failures = threading.Event()
    original = ingest.decoder.decode

    def flaky(topic: str, payload: bytes, received: datetime, *, retained: bool = False):  # type: ignore[no-untyped-def]
        if payload == b"boom" and not failures.is_set():
            failures.set()
            raise RuntimeError("decoder bug")
        return original(topic, payload, received, retained=retained)

    ingest.decoder.decode = flaky  # type: ignore[method-assign]
    try:
        device = Publisher(broker)
        device.send_raw(TEMP_TOPIC, b"boom")
        device.finish()
        assert wait_until(failures.is_set, 10)
        device = Publisher(broker, client_id="second-device")
        device.send(TEMP_TOPIC, reading(1))
        device.finish()
        assert wait_until(lambda: row_count(db, "readings") == 1, 10)
    finally:
        ingest.stop()
    assert ingest.stats.last_error == "decoder bug"


def test_a_drained_backlog_does_not_report_its_sensor_offline(db: Database, broker: Broker) -> None:
    """An hour of readings queued at the broker while the ingest was away arrives in a burst; the
    rules' clock ticks all along, yet follows the data, so no silence is invented mid-backlog."""
    deployment = iot_config(batch_rows=1)  # one message per batch: ticks fall between them
    pipeline = Pipeline(deployment, "0" * 64)

    def start() -> SensorIngest:
        ingest = SensorIngest(deployment, db, BrokerAddress(port=broker.port), client_id="backlog",
                              sink=InProcessSink(db, pipeline, None, "iot"), tick_every=0.005)  # fmt: skip
        ingest.start()
        assert ingest.wait_connected(10)
        return ingest

    start().stop()  # the persistent session exists: the broker queues for it from now on
    now = datetime.now(UTC).replace(microsecond=0)
    device = Publisher(broker)
    for i in range(120):  # every 30 s for the last hour; the offline rule allows 5 minutes
        at = now - timedelta(minutes=60) + timedelta(seconds=30 * i)
        device.send(TEMP_TOPIC, {"temperature": -20.0, "ts": at.isoformat()})
    device.finish()
    ingest = start()
    try:
        assert wait_until(lambda: ingest.stats.messages == 120, 30), ingest.stats
        ingest.tick()
    finally:
        ingest.stop()
    with db.pool.connection() as conn:
        offline = conn.execute("SELECT id FROM events WHERE rule = 'coldstore-temp-offline'").fetchall()
    assert offline == []
    assert row_count(db, "readings") == 120


def test_iot_queue_bounds_the_messages_a_worker_holds(db: Database, broker: Broker) -> None:
    """While the database is stuck, the broker sends a worker no more than `iot.queue`
    unacknowledged messages (MQTT 5 Receive Maximum); the rest wait at the broker, none is lost."""
    ingest = make_ingest(iot_config(queue=10), db, broker, client_id="bounded")
    held: list[int] = []
    try:
        with db.pool.connection() as blocker:
            blocker.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")  # the writer waits here
            device = Publisher(broker)
            for i in range(100):
                device.send(TEMP_TOPIC, reading(i))
            device.finish()
            for _ in range(20):
                held.append(ingest.stats.received - ingest.stats.acked)
                time.sleep(0.05)
        assert wait_until(lambda: row_count(db, "readings") == 100, 20), ingest.stats
    finally:
        ingest.stop()
    assert 0 < max(held) <= 10, held


def make_certificates(folder: Path) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1, made with the openssl command."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=offsite test CA",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return folder / "ca.pem"


def test_an_mqtts_url_connects_with_verified_tls(
    deployment: Deployment, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = make_certificates(tmp_path)
    broker = start_broker(f"certfile {tmp_path / 'server.pem'}\nkeyfile {tmp_path / 'server.key'}\n")
    try:
        untrusted = SensorIngest(deployment, db, BrokerAddress.from_url(f"mqtts://127.0.0.1:{broker.port}"))
        untrusted.start(wait=0)
        try:
            assert not untrusted.wait_connected(2), (
                "connected to a broker whose certificate nobody vouches for"
            )
        finally:
            untrusted.stop()
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # what an administrator sets for a private CA
        address = BrokerAddress.from_url(f"mqtts://127.0.0.1:{broker.port}")
        assert address.tls and BrokerAddress.from_url("mqtts://broker").port == 8883
        ingest = SensorIngest(deployment, db, address, client_id="tls")
        ingest.start()
        try:
            assert ingest.wait_connected(10)
            command = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "--cafile", str(ca),
                       "-q", "1", "-t", TEMP_TOPIC]  # fmt: skip
            subprocess.run([*command, "-m", json.dumps(reading(0))], check=True, timeout=10)
            assert wait_until(lambda: row_count(db, "readings") == 1, 10), ingest.stats
        finally:
            ingest.stop()
    finally:
        broker.remove()


def test_the_client_id_comes_from_the_configuration(db: Database) -> None:
    """`broker.client_id` is the ingest's id; in a share group each worker adds its host name, and
    `offsite iot run --client-id` (the constructor's argument) overrides both."""
    alone = iot_config()
    shared = iot_config(share_group="ingest")
    address = BrokerAddress(port=1)  # never connected: only the ids are looked at
    assert SensorIngest(alone, db, address).client_id == alone.broker.client_id == "offsite-iot"
    assert SensorIngest(shared, db, address).client_id == f"offsite-iot-{socket.gethostname()}"
    assert SensorIngest(shared, db, address, client_id="worker-2").client_id == "worker-2"
    with pytest.raises(ValueError, match="begins like a device's user name"):
        BrokerSettings.model_validate({"client_id": "sensor-coldstore-temp"})

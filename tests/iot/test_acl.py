"""`offsite iot acl` on a real Mosquitto: each device may publish only under its own topic."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from harness.mosquitto import Broker, start_shipped_broker
from hub.host import wait_until
from hub.store.db import Database
from iot.intake import BrokerAddress, SensorIngest
from tests.conftest import REPO
from tests.iot.conftest import GAS_TOPIC, iot_config

HUB_PASSWORD = "hub-test-secret-123"


@pytest.fixture
def secured() -> Iterator[tuple[Broker, dict[str, str]]]:
    """`offsite iot acl` files under the shipped Mosquitto configuration, run as in production."""
    files = Path(tempfile.mkdtemp(prefix="offsite-acl-"))
    files.chmod(0o755)  # as /etc/mosquitto is: the broker's user reaches the files in it
    env = {**os.environ, "OFFSITE_MQTT_USERNAME": "hub", "OFFSITE_MQTT_PASSWORD": HUB_PASSWORD}
    command = [sys.executable, "-m", "offsite.cli", "iot", "acl", "-c", str(REPO / "configs" / "demo.yaml")]
    done = subprocess.run([*command, "--out", str(files)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    credentials = dict(line.split() for line in (files / "new-credentials.txt").read_text().splitlines())
    broker = start_shipped_broker(files)
    try:
        yield broker, credentials
    finally:
        broker.remove()
        shutil.rmtree(files, ignore_errors=True)


def publish(broker: Broker, user: str, password: str, topic: str, payload: str) -> int:
    return subprocess.run(
        ["mosquitto_pub", "-p", str(broker.port), "-u", user, "-P", password, "-t", topic, "-m", payload,
         "-q", "1", "-V", "mqttv5"],
        capture_output=True, timeout=10,
    ).returncode  # fmt: skip


def test_devices_publish_only_their_own_topics(secured: tuple[Broker, dict[str, str]]) -> None:
    broker, credentials = secured
    assert set(credentials) == {"sensor-coldstore-temp", "sensor-coldstore-gas", "sensor-dock-humidity"}
    received: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hub-test", protocol=mqtt.MQTTv5)
    hub.username_pw_set("hub", HUB_PASSWORD)
    hub.on_connect = lambda c, *_: c.subscribe("sites/+/sensors/+/telemetry", 1)
    hub.on_subscribe = lambda *_: subscribed.set()
    hub.on_message = lambda _c, _u, m: received.append((m.topic, m.payload))
    assert broker.hub_port is not None, "the shipped configuration has no listener of the hub's own"
    hub.connect("127.0.0.1", broker.hub_port)
    hub.loop_start()
    try:
        assert subscribed.wait(5)
        temp = credentials["sensor-coldstore-temp"]
        own = "sites/lintong-coldstore/sensors/coldstore-temp/telemetry"
        other = "sites/lintong-coldstore/sensors/coldstore-gas/telemetry"
        assert publish(broker, "sensor-coldstore-temp", temp, own, '{"temperature": -20}') == 0
        publish(broker, "sensor-coldstore-temp", temp, other, '{"lel": 99}')  # refused by the ACL
        assert publish(broker, "sensor-coldstore-temp", "wrong-password", own, "1") != 0
        gas = credentials["sensor-coldstore-gas"]
        assert publish(broker, "sensor-coldstore-gas", gas, other, '{"lel": 3}') == 0
        deadline = threading.Event()
        for _ in range(50):
            if len(received) >= 2:
                break
            deadline.wait(0.05)
        deadline.wait(0.3)  # time for a wrongly let-through message to arrive too
    finally:
        hub.loop_stop()
        hub.disconnect()
    assert received == [(own, b'{"temperature": -20}'), (other, b'{"lel": 3}')]


def test_existing_device_passwords_are_kept(tmp_path: Path) -> None:
    from hub.config import load_config
    from iot.acl import write_acl

    deployment = load_config(REPO / "configs" / "demo.yaml").deployment
    assert write_acl(deployment, tmp_path, "hub", HUB_PASSWORD) == [
        "sensor-coldstore-temp",
        "sensor-coldstore-gas",
        "sensor-dock-humidity",
    ]
    first = (tmp_path / "passwd").read_text()
    assert write_acl(deployment, tmp_path, "hub", HUB_PASSWORD) == []
    kept = [line for line in (tmp_path / "passwd").read_text().splitlines() if line.startswith("sensor-")]
    assert kept == [line for line in first.splitlines() if line.startswith("sensor-")]
    assert oct((tmp_path / "passwd").stat().st_mode & 0o777) == "0o600"


def test_the_files_belong_to_the_broker_user_and_it_runs_as_that_user(
    secured: tuple[Broker, dict[str, str]],
) -> None:
    broker, _ = secured
    assert os.geteuid() == 0, "this test checks the production ownership and must run as root"
    account = pwd.getpwnam("mosquitto")
    conf = broker.conf.read_text()
    files = Path(conf.split("password_file ", 1)[1].split("\n", 1)[0]).parent
    for name in ("passwd", "hub-passwd"):
        info = (files / name).stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (account.pw_uid, account.pw_gid, 0o640), (
            name
        )
    secrets_file = (files / "new-credentials.txt").stat()  # for the administrator only
    assert (secrets_file.st_uid, secrets_file.st_mode & 0o777) == (0, 0o600)
    assert broker.process is not None
    status = Path(f"/proc/{broker.process.pid}/status").read_text()
    assert f"Uid:\t{account.pw_uid}\t" in status, "the broker did not drop to user mosquitto"


class Device:
    """A sensor's own paho client that counts the times it was thrown off the broker."""

    def __init__(self, port: int, user: str, password: str, client_id: str) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, password)
        self.connected = threading.Event()
        self.disconnects = 0
        self.client.on_connect = lambda *_: self.connected.set()
        self.client.on_disconnect = self._lost
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(5), f"{user} could not connect"

    def _lost(self, *_: object) -> None:
        self.disconnects += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_sensor_cannot_take_over_another_clients_session(
    secured: tuple[Broker, dict[str, str]], db: Database
) -> None:
    """A sensor logs in with its own valid password but the ingest's client id, or another
    sensor's: neither the ingest nor the other sensor loses its connection or a reading."""
    broker, credentials = secured
    assert broker.hub_port is not None, "the shipped configuration has no listener of the hub's own"
    deployment = iot_config()
    ingest = SensorIngest(
        deployment, db, BrokerAddress(port=broker.hub_port, username="hub", password=HUB_PASSWORD)
    )
    assert ingest.client_id == deployment.broker.client_id
    ingest.start()
    assert ingest.wait_connected(10)
    victim = Device(broker.port, "sensor-coldstore-gas", credentials["sensor-coldstore-gas"], "gas-device")
    stolen = [ingest.client_id, "gas-device", "sensor-coldstore-gas"]
    attacker = ("sensor-coldstore-temp", credentials["sensor-coldstore-temp"])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    try:
        for i in range(20):
            ts = (start + timedelta(seconds=i)).isoformat()
            victim.client.publish(GAS_TOPIC, json.dumps({"lel": 3.0, "ts": ts}), qos=1)
            for port in (broker.port, broker.hub_port):  # the hub's listener refuses a sensor outright
                thief = mqtt.Client(
                    mqtt.CallbackAPIVersion.VERSION2, client_id=stolen[i % 3], protocol=mqtt.MQTTv5
                )
                thief.username_pw_set(*attacker)
                try:
                    thief.connect("127.0.0.1", port)
                    thief.loop(0.05)
                    thief.disconnect()
                except OSError:
                    pass
            time.sleep(0.05)
        assert wait_until(lambda: ingest.stats.stored == 20, 10), ingest.stats
    finally:
        ingest.stop()
        victim.close()
    assert ingest.stats.connections == 1, "the ingest was thrown off the broker"
    assert victim.disconnects == 1, "the sensor was thrown off the broker"  # its own close()


def test_an_owner_that_does_not_exist_is_refused_by_name(tmp_path: Path) -> None:
    env = {**os.environ, "OFFSITE_MQTT_PASSWORD": HUB_PASSWORD}
    command = [sys.executable, "-m", "offsite.cli", "iot", "acl", "-c", str(REPO / "configs" / "demo.yaml")]
    done = subprocess.run(
        [*command, "--out", str(tmp_path), "--owner", "no-such-user"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and "--owner 'no-such-user': no such user or group" in done.stdout, done
    assert not (tmp_path / "passwd").exists()

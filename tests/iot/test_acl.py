"""`offsite iot acl` on a real Mosquitto: each device may publish only under its own topic."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import REPO
from tests.mosquitto import Broker, start_broker

HUB_PASSWORD = "hub-test-secret-123"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Broker, dict[str, str]]]:
    env = {**os.environ, "OFFSITE_MQTT_USERNAME": "hub", "OFFSITE_MQTT_PASSWORD": HUB_PASSWORD}
    command = [sys.executable, "-m", "hub.cli", "iot", "acl", "-c", str(REPO / "configs" / "demo.yaml")]
    done = subprocess.run([*command, "--out", str(tmp_path)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    credentials = dict(line.split() for line in (tmp_path / "new-credentials.txt").read_text().splitlines())
    broker = start_broker(
        f"password_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}\n", anonymous=False
    )
    try:
        yield broker, credentials
    finally:
        broker.remove()


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
    hub.connect("127.0.0.1", broker.port)
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

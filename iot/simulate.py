"""Simulated sensors for the demo: the last half hour of a cold store, replayed in a second.

- the cold store drifts from -20 degC to above its -18 degC limit and stays there;
- the gas detector in the machine room spikes twice, the second time inside the rule's cooldown;
- the dock humidity sensor goes silent seven minutes before the end.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.config import Deployment

Message = tuple[str, bytes]


def _topic(deployment: Deployment, sensor: str) -> str:
    site = deployment.sensor_by_id[sensor].site
    return deployment.iot.sensor_topic.format(site=site, sensor=sensor)


def _message(deployment: Deployment, sensor: str, at: datetime, **values: float) -> Message:
    return _topic(deployment, sensor), json.dumps({**values, "ts": at.isoformat()}).encode()


def cold_store_half_hour(deployment: Deployment, now: datetime) -> list[Message]:
    """The demo's sensor messages, in time order, all stamped in the 30 minutes before `now`."""
    start = now - timedelta(minutes=30)
    out: list[tuple[datetime, Message]] = []
    for step in range(60):  # every 30 s; warming from minute 10 at 0.35 degC a minute
        at = start + timedelta(seconds=30 * step)
        minutes = step / 2
        value = -20.0 + max(0.0, minutes - 10) * 0.35
        out.append((at, _message(deployment, "coldstore-temp", at, temperature=round(value, 2))))
    for step in range(180):  # every 10 s; spikes at minutes 24 and 27
        at = start + timedelta(seconds=10 * step)
        minutes = step / 6
        lel = 26.0 if 24 <= minutes < 24.5 else 23.0 if 27 <= minutes < 27.5 else 6.0
        out.append((at, _message(deployment, "coldstore-gas", at, lel=lel)))
    for step in range(24):  # every minute until it goes silent
        at = start + timedelta(minutes=step)
        out.append((at, _message(deployment, "dock-humidity", at, rh=71.0 + step % 3)))
    return [message for _, message in sorted(out, key=lambda item: item[0])]


def publish(host: str, port: int, messages: list[Message], *, mqtt5: bool = True) -> None:
    """Publish at QoS 1 and wait until the broker has every message."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="offsite-demo-sensors",
        protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
    )  # fmt: skip
    client.max_inflight_messages_set(200)
    client.connect(host, port)
    client.loop_start()
    try:
        sent = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in sent:
            info.wait_for_publish(timeout=30)
    finally:
        client.loop_stop()
        client.disconnect()

"""Topics and payloads -> readings; everything refused says why, good readings beside bad are kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.config import Deployment
from iot.payloads import Decoder, subscription
from iot.readings import Reading
from tests.iot.conftest import GAS_TOPIC, GATEWAY_TOPIC, TEMP_TOPIC, iot_config

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def decode(deployment: Deployment, topic: str, payload: bytes) -> tuple[list[Reading], list[str]]:
    out = Decoder(deployment).decode(topic, payload, NOW)
    return out.readings, [r.reason for r in out.refusals]


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        (TEMP_TOPIC, b'{"temperature": -19.5}', [("coldstore-temp", "temperature", NOW, -19.5)]),
        (TEMP_TOPIC, b"-19.5", [("coldstore-temp", "temperature", NOW, -19.5)]),
        (TEMP_TOPIC, b'{"temperature": -20, "ts": 1795392000}',
         [("coldstore-temp", "temperature", datetime(2026, 11, 23, 0, 0, tzinfo=UTC), -20.0)]),
        (TEMP_TOPIC, b'{"temperature": -20, "ts": 1795392000500}',
         [("coldstore-temp", "temperature", datetime(2026, 11, 23, 0, 0, 0, 500000, tzinfo=UTC), -20.0)]),
        (TEMP_TOPIC, b'[{"temperature": -20, "ts": "2026-11-23T09:00:00+08:00"}, {"temperature": -21}]',
         [("coldstore-temp", "temperature", datetime(2026, 11, 23, 1, 0, tzinfo=UTC), -20.0),
          ("coldstore-temp", "temperature", NOW, -21.0)]),
        (GATEWAY_TOPIC,
         b'[{"sensor": "coldstore-temp", "temperature": -18}, {"sensor": "dock-humidity", "rh": 655}]',
         [("coldstore-temp", "temperature", NOW, -18.0), ("dock-humidity", "rh", NOW, 65.5)]),
    ],
)  # fmt: skip
def test_good_payloads(
    deployment: Deployment, topic: str, payload: bytes, expected: list[tuple[object, ...]]
) -> None:
    readings, refused = decode(deployment, topic, payload)
    assert refused == []
    assert [(r.sensor, r.metric, r.time, r.value) for r in readings] == expected


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("sites/x/cameras/y", b"1", "matches no sensor or gateway template"),
        (TEMP_TOPIC, b"not json", "payload is not JSON or a number"),
        (TEMP_TOPIC, b"\xff\xfe", "payload is not JSON or a number"),
        (TEMP_TOPIC, b'{"temperature": NaN}', "coldstore-temp.temperature: value is not finite"),
        (TEMP_TOPIC, b'{"temperature": Infinity}', "value is not finite"),
        (TEMP_TOPIC, b'{"temperature": "cold"}', "value must be a number, got str"),
        (TEMP_TOPIC, b'{"temperature": true}', "value must be a number, got bool"),
        (TEMP_TOPIC, b'{"temperature": 1e999999}', "value is not finite"),
        (TEMP_TOPIC, b'{"temperature": ' + b"9" * 400 + b"}", "value is too large"),
        (TEMP_TOPIC, b'{"temperature": 75}', "outside physical bounds [-60, 60]"),
        (TEMP_TOPIC, b'{"pressure": 1}', "unknown metric; sensor 'coldstore-temp' has temperature"),
        (TEMP_TOPIC, b'"text"', "expected an object, a list or a number, got str"),
        (TEMP_TOPIC, b"null", "expected an object, a list or a number, got NoneType"),
        (TEMP_TOPIC, b'{"temperature": -20, "ts": 4102444800}', "in the future"),
        (
            TEMP_TOPIC,
            b'{"temperature": -20, "ts": "yesterday"}',
            "is not epoch seconds/milliseconds or ISO 8601",
        ),
        (TEMP_TOPIC, b'{"temperature": -20, "ts": "2026-11-23T09:00:00"}', "has no timezone"),
        (TEMP_TOPIC, b"1" * 300_000, "exceeds"),
        (TEMP_TOPIC, b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ("sites/lintong-coldstore/sensors/ghost/telemetry", b"1", "unknown sensor 'ghost'"),
        ("sites/lintong-hall/sensors/coldstore-temp/telemetry", b"1", "belongs to site 'lintong-coldstore'"),
        (GAS_TOPIC.replace("coldstore-gas", "dock-humidity"), b'{"rh": 500, "x": 1}', "unknown metric"),
        ("sites/lintong-coldstore/gateways/ghost/telemetry", b"[]", "unknown gateway 'ghost'"),
        (GATEWAY_TOPIC, b'{"sensor": "coldstore-temp"}', "gateway payload must be a JSON list"),
        (GATEWAY_TOPIC, b'[{"sensor": "coldstore-gas", "lel": 1}]', "is not behind gateway 'logger-1'"),
        (GATEWAY_TOPIC, b"[5]", "item 0: expected an object with a 'sensor' key"),
    ],
)
def test_bad_payloads_say_why(deployment: Deployment, topic: str, payload: bytes, reason: str) -> None:
    _, refused = decode(deployment, topic, payload)
    assert refused and reason in refused[0], refused


def test_good_readings_next_to_bad_ones_are_kept(deployment: Deployment) -> None:
    payload = (
        b'[{"sensor": "coldstore-temp", "temperature": -18, "junk": "x"}, {"sensor": "nobody"},'
        b' {"sensor": "dock-humidity", "rh": "wet"}, {"sensor": "dock-humidity", "rh": 400}]'
    )
    readings, refused = decode(deployment, GATEWAY_TOPIC, payload)
    assert [(r.sensor, r.metric, r.value) for r in readings] == [
        ("coldstore-temp", "temperature", -18.0), ("dock-humidity", "rh", 40.0)
    ]  # fmt: skip
    assert len(refused) == 3


def test_auto_registration_accepts_unknown_sensors() -> None:
    open_registry = iot_config(auto_register=True)
    readings, refused = decode(
        open_registry, "sites/lintong-coldstore/sensors/new-probe/telemetry", b'{"t": 4}'
    )
    assert refused == [] and [(r.sensor, r.metric, r.value) for r in readings] == [("new-probe", "t", 4.0)]


def test_subscription_filters() -> None:
    assert subscription("sites/{site}/sensors/{sensor}/telemetry") == "sites/+/sensors/+/telemetry"


OPEN_REGISTRY_TOPIC = "sites/lintong-coldstore/sensors/{}/telemetry"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TEMP_TOPIC, b'{"temperature\\u0000x": 1}', "metric 'temperature\\x00x' contains a NUL"),
        (TEMP_TOPIC, b'{"temperatur\\ud800": 1}', "metric 'temperatur\\ud800' contains a lone surrogate"),
        (TEMP_TOPIC, b'{"\\u200bt": 1}', "is not printable"),  # a format character
        (TEMP_TOPIC, b'{"' + b"t" * 65 + b'": 1}', "is longer than 64 characters"),
        (TEMP_TOPIC, b'{"": 1}', "metric '' is empty"),
        (OPEN_REGISTRY_TOPIC.format("p" * 65), b'{"t": 1}', "sensor id 'ppp"),
        (OPEN_REGISTRY_TOPIC.format("probe\u00a0"), b'{"t": 1}', "is not printable"),
        (TEMP_TOPIC, b"[]", "nothing to store: the message carries no reading"),
        (TEMP_TOPIC, b"[[]]", "nothing to store: the message carries no reading"),
        (TEMP_TOPIC, b"{}", "nothing to store: an object with no metric"),
        (TEMP_TOPIC, b'{"ts": 1795392000}', "nothing to store: an object with no metric"),
        (GATEWAY_TOPIC, b"[]", "nothing to store: the message carries no reading"),
        (TEMP_TOPIC, b'{"temperature": 1, "ts": "1999-12-31T23:59:59Z"}', "'ts': 1999-12-31T23:59:59+00"),
        (TEMP_TOPIC, b'{"temperature": 1, "time": -5}', "'time': 1969-12-31T23:59:55+00:00 is before 2000"),
        (TEMP_TOPIC, b'{"temperature": 1, "timestamp": 4102444800}', "'timestamp': 2100-01-01T00:00"),
    ],
)  # fmt: skip
def test_what_cannot_be_stored_is_refused_before_the_database(
    topic: str, payload: bytes, reason: str
) -> None:
    readings, refused = decode(iot_config(auto_register=True), topic, payload)
    assert readings == [] and refused and reason in refused[0], refused


def test_retained_messages_need_their_own_time(deployment: Deployment) -> None:
    decoder = Decoder(deployment)
    untimed = decoder.decode(TEMP_TOPIC, b'{"temperature": -20}', NOW, retained=True)
    timed = decoder.decode(TEMP_TOPIC, b'{"temperature": -20, "ts": 1795392000}', NOW, retained=True)
    assert [r.reason for r in untimed.refusals] == [
        "retained message without 'ts': the broker replays it, its time is unknown"
    ]
    assert [r.time for r in timed.readings] == [datetime(2026, 11, 23, 0, 0, tzinfo=UTC)]

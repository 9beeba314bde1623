"""What a device may send that must not harm the ingest, on a real Mosquitto and real databases.

Every message ends stored or dead-lettered with its reason, the worker lives on, and nothing is
taken twice: poison strings, messages with nothing to store, impossible times, retained messages.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from harness.mosquitto import Broker, start_broker
from hub.config import Deployment
from hub.host import wait_until
from hub.pipeline import Pipeline
from hub.sink import InProcessSink
from hub.store.db import Database
from iot.intake import BrokerAddress, SensorIngest
from tests.iot.conftest import (
    CANTEEN_GAS_TOPIC,
    GAS_TOPIC,
    GATEWAY_TOPIC,
    PLANT_TEMP_TOPIC,
    TEMP_TOPIC,
    iot_config,
    plant_config,
)
from tests.iot.test_intake import Publisher, row_count


@pytest.fixture
def broker() -> Iterator[Broker]:
    started = start_broker()
    yield started
    started.remove()


def start_ingest(deployment: Deployment, db: Database, broker: Broker, client_id: str) -> SensorIngest:
    ingest = SensorIngest(deployment, db, BrokerAddress(port=broker.port), client_id=client_id,
                          sink=InProcessSink(db, Pipeline(deployment, "0" * 64), None, "iot"))  # fmt: skip
    ingest.start()
    assert ingest.wait_connected(10)
    return ingest


def dead_letters(db: Database) -> list[tuple[str, bytes, str]]:
    with db.pool.connection() as conn:
        rows = conn.execute("SELECT topic, payload_head, reason FROM dead_letters ORDER BY id").fetchall()
    return [(topic, bytes(head), reason) for topic, head, reason in rows]


def raised(db: Database, rule: str) -> int:
    """Events of `rule` that raised an alert (not the ones that cleared it)."""
    with db.pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE rule = %s AND NOT cleared", (rule,)).fetchone()
    return int(row[0]) if row else 0


# Names that JSON decodes happily and PostgreSQL cannot hold or nobody should see in a report.
POISON: list[tuple[str, dict[str, object], str]] = [
    (PLANT_TEMP_TOPIC, {"temperature\u0000x": 1.0}, "metric 'temperature\\x00x'"),
    (PLANT_TEMP_TOPIC, {"temperatur\ud800": 1.0}, "metric 'temperatur\\ud800'"),
    (CANTEEN_GAS_TOPIC, {"lel\u0007": 1.0}, "metric 'lel\\x07'"),
    (CANTEEN_GAS_TOPIC, {"l" * 300: 1.0}, "longer than 64 characters"),
]


def test_poison_messages_never_stall_the_ingest(db: Database, broker: Broker) -> None:
    """Poison interleaved with two sites' good readings: all good ones stored and evaluated within
    seconds, every poison message a dead letter, and nothing comes back after a restart."""
    deployment = plant_config()
    ingest = start_ingest(deployment, db, broker, "poison")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    device = Publisher(broker)
    sent = poisoned = 0
    for i in range(60):  # the canteen's gas is above 20 %LEL for its last 40 s: the rule must fire
        device.send(
            PLANT_TEMP_TOPIC, {"temperature": -20.0, "ts": (start + timedelta(seconds=i)).isoformat()}
        )
        device.send(
            CANTEEN_GAS_TOPIC,
            {"lel": 35.0 if i >= 20 else 5.0, "ts": (start + timedelta(seconds=i)).isoformat()},
        )
        sent += 2
        if i % 2 == 0:
            topic, body, _ = POISON[(i // 2) % len(POISON)]
            device.send(topic, body)
            poisoned += 1
    device.finish()

    def counts() -> tuple[int, int, int, int]:
        return (row_count(db, "readings"), row_count(db, "dead_letters"), ingest.stats.acked,
                raised(db, "kitchen-gas-high"))  # fmt: skip

    try:
        assert wait_until(lambda: counts() == (120, poisoned, sent + poisoned, 1), 15), (
            counts(),
            ingest.stats,
        )
        assert ingest._writer.is_alive()
    finally:
        ingest.stop()
    reasons = [reason for _, _, reason in dead_letters(db)]
    for _, _, expected in POISON:
        assert any(expected in reason for reason in reasons), (expected, reasons)
    again = start_ingest(deployment, db, broker, "poison")  # the same session: nothing redelivered
    try:
        time.sleep(1.5)
        assert again.stats.messages == 0, again.stats
    finally:
        again.stop()
    assert (row_count(db, "readings"), row_count(db, "dead_letters")) == (120, poisoned)


NOTHING_TO_STORE: list[tuple[str, bytes, str]] = [
    (TEMP_TOPIC, b"[]", "no reading"),
    (TEMP_TOPIC, b"{}", "no metric"),
    (TEMP_TOPIC, b"[{}, {}]", "no metric"),
    (TEMP_TOPIC, b'{"ts": 1795392000}', "no metric"),
    (GATEWAY_TOPIC, b"[]", "no reading"),
    (GATEWAY_TOPIC, b'[{"sensor": "coldstore-temp", "ts": 1795392000}]', "no metric"),
    (TEMP_TOPIC, b'{"temperature": -20, "ts": "0001-01-01T00:10:00+01:00"}', "'ts': 0001-01-01"),
    (TEMP_TOPIC, b'{"temperature": -20, "time": 0}', "'time': 1970-01-01T00:00:00+00:00 is before 2000"),
    (TEMP_TOPIC, b'{"temperature": -20, "timestamp": "2999-01-01T00:00:00Z"}', "'timestamp': 2999"),
]


def test_messages_with_nothing_to_store_or_impossible_times_are_dead_letters(
    db: Database, broker: Broker
) -> None:
    ingest = start_ingest(iot_config(), db, broker, "nothing")
    device = Publisher(broker)
    for topic, payload, _ in NOTHING_TO_STORE:
        device.send_raw(topic, payload)
    device.finish()
    try:
        assert wait_until(lambda: ingest.stats.acked == len(NOTHING_TO_STORE), 10), ingest.stats
    finally:
        ingest.stop()
    letters = dead_letters(db)
    for topic, payload, reason in NOTHING_TO_STORE:
        assert any(t == topic and p == payload and reason in r for t, p, r in letters), (
            payload,
            reason,
            letters,
        )
    assert row_count(db, "readings") == 0


def test_retained_messages_need_a_time_and_are_stored_once(db: Database, broker: Broker) -> None:
    """A retained message is replayed to every new subscription: without `ts` it would be a new
    reading each time, so it is refused; with `ts` the (sensor, metric, time) key takes it once."""
    stamp = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    retained = [(TEMP_TOPIC, '{"temperature": -20}'), (GAS_TOPIC, f'{{"lel": 3, "ts": "{stamp}"}}')]
    for topic, payload in retained:
        command = ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-r", "-t", topic, "-m", payload]
        subprocess.run(command, check=True, timeout=10)
    deployment = iot_config()
    for client_id in ("retained", "retained", "retained-other-session"):
        ingest = start_ingest(deployment, db, broker, client_id)
        try:
            time.sleep(1.5)  # a replay, if any, arrives within milliseconds
        finally:
            ingest.stop()
    assert row_count(db, "readings") == 1
    letters = dead_letters(db)
    assert [t for t, _, _ in letters] == [TEMP_TOPIC, TEMP_TOPIC], letters  # once per new session
    assert all("retained message without 'ts'" in reason for _, _, reason in letters), letters


def test_a_batch_the_database_refuses_is_halved_down_to_the_message_it_refuses(
    db: Database, broker: Broker
) -> None:
    """What the decoder lets through, the database may still refuse (here a rule the administrator
    added to the table): only that message becomes a dead letter, every other one is stored."""
    with db.pool.connection() as conn:
        conn.execute("ALTER TABLE readings ADD CONSTRAINT no_13_5 CHECK (value <> 13.5)")
    ingest = start_ingest(iot_config(batch_wait=0.5), db, broker, "halving")
    device = Publisher(broker)
    refused = {i for i in range(400) if i % 97 == 5}
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    for i in range(400):
        at = (start + timedelta(milliseconds=250 * i)).isoformat()
        device.send(TEMP_TOPIC, {"temperature": 13.5 if i in refused else -20.0, "ts": at})
    device.finish()
    try:
        assert wait_until(lambda: ingest.stats.acked == 400, 15), ingest.stats
    finally:
        ingest.stop()
    assert row_count(db, "readings") == 400 - len(refused)
    letters = dead_letters(db)
    assert len(letters) == len(refused) and ingest.stats.bisections > len(refused), (letters, ingest.stats)
    assert all("CheckViolation" in reason and "no_13_5" in reason for _, _, reason in letters), letters
    assert all(b'"temperature": 13.5' in payload for _, payload, _ in letters), letters

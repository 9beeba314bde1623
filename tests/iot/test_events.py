"""Sensor rule events reach the hub through the durable sink, even when the database fails them
after their readings were committed and acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.mosquitto import Broker, start_broker
from harness.sensors import GAS_TOPIC
from hub.config import Deployment
from hub.host import wait_until
from hub.pipeline import Pipeline
from hub.sink import InProcessSink
from hub.spool import DurableSink
from hub.store.db import Database
from iot.intake import BrokerAddress, SensorIngest
from tests.iot.test_intake import Publisher, row_count

# The intake fails as a database going away does (SQLSTATE 57P03, an OperationalError), while
# the readings still commit: the moment between the readings' acknowledgement and their events.
REFUSE_EVENTS = """
CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the database is going away' USING ERRCODE = '57P03'; END $$;
CREATE TRIGGER refuse_events BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_events();
"""


@pytest.fixture
def broker() -> Iterator[Broker]:
    started = start_broker()
    yield started
    started.remove()


def gas_alerts(db: Database) -> list[tuple[str, str]]:
    with db.pool.connection() as conn:
        rows = conn.execute("SELECT rule, status FROM alerts WHERE rule = 'coldstore-gas-high'").fetchall()
    return [(str(rule), str(status)) for rule, status in rows]


def test_rule_events_outlive_a_database_error_after_their_readings_were_acknowledged(
    deployment: Deployment, db: Database, broker: Broker, tmp_path: Path
) -> None:
    with db.pool.connection() as conn:
        conn.execute(REFUSE_EVENTS)
    spool = DurableSink(
        tmp_path / "spool.sqlite", InProcessSink(db, Pipeline(deployment, "0" * 64), None, "iot")
    )
    ingest = SensorIngest(deployment, db, BrokerAddress(port=broker.port), client_id="spooled", sink=spool)
    ingest.start()
    try:
        assert ingest.wait_connected(10)
        device = Publisher(broker)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        for i in range(10):  # 30 %LEL for 9 s: the rule's 5 s are up
            device.send(GAS_TOPIC, {"lel": 30.0, "ts": (start + timedelta(seconds=i)).isoformat()})
        device.finish()
        assert wait_until(lambda: ingest.stats.acked == 10 and spool.depth() == 1, 20), ingest.stats
        assert row_count(db, "readings") == 10 and gas_alerts(db) == []
        with db.pool.connection() as conn:
            conn.execute("DROP TRIGGER refuse_events ON events")
        assert wait_until(lambda: gas_alerts(db) == [("coldstore-gas-high", "open")], 20), spool.stats
        assert spool.depth() == 0 and spool.refusals() == []
    finally:
        ingest.stop()
        spool.close()

"""kill -9 of an ingest worker in the middle of a backlog: what it had committed stays once, what
it had not comes again from the broker and is stored once; nothing it acknowledged is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from harness.mosquitto import Broker, start_broker
from hub.host import wait_until
from hub.store.db import Database
from tests.conftest import REPO
from tests.iot.conftest import TEMP_TOPIC, iot_config
from tests.iot.test_intake import T0, Publisher, make_ingest, reading, row_count, stored

BACKLOG = 6000
WORKER = textwrap.dedent(
    """
    import sys, tempfile, threading
    from pathlib import Path
    from harness.sensors import iot_config
    from hub.store.db import open_database
    from iot.intake import BrokerAddress, SensorIngest

    dsn, port = sys.argv[1], int(sys.argv[2])
    db = open_database(dsn, Path(tempfile.mkdtemp()), pool_size=2)
    deployment = iot_config(batch_rows=100, batch_wait=0.05)
    SensorIngest(deployment, db, BrokerAddress(port=port), client_id="worker").start()
    print("started", flush=True)
    threading.Event().wait()
    """
)


@pytest.fixture
def broker() -> Iterator[Broker]:
    started = start_broker()
    yield started
    started.remove()


def test_a_worker_killed_mid_backlog_loses_and_doubles_nothing(db: Database, broker: Broker) -> None:
    deployment = iot_config(batch_rows=100, batch_wait=0.05)
    make_ingest(deployment, db, broker, client_id="worker").stop()  # the session waits at the broker
    device = Publisher(broker)
    for i in range(BACKLOG):
        device.send(TEMP_TOPIC, reading(i))
    device.finish(timeout=120)

    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, db.dsn, str(broker.port)], cwd=REPO, stdout=subprocess.PIPE
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == b"started"
        assert wait_until(lambda: row_count(db, "readings") >= 300, 60), "the worker committed nothing"
        worker.kill()  # SIGKILL: no stop(), no DISCONNECT, acknowledgements in flight lost
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    time.sleep(1)  # a COMMIT the worker sent just before it died completes; the broker drops it
    at_kill = row_count(db, "readings")
    assert at_kill < BACKLOG, "the backlog drained before the kill: make it longer"

    successor = make_ingest(deployment, db, broker, client_id="worker")
    try:
        assert wait_until(lambda: row_count(db, "readings") == BACKLOG, 120), row_count(db, "readings")
        assert wait_until(lambda: successor.stats.received == successor.stats.acked, 30)
    finally:
        successor.stop()
    assert [r[2] for r in stored(db)] == [T0 + timedelta(seconds=i) for i in range(BACKLOG)]
    # What the killed worker had committed but not acknowledged came again and added no row.
    assert successor.stats.stored == BACKLOG - at_kill
    assert successor.stats.readings >= successor.stats.stored

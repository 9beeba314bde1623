"""Sensor readings through an edge box against the hub's own ingest, in the same run.

    .venv/bin/python -m bench.edge_readings [--readings 20000] [--rounds 3]

Each round queues `--readings` single-reading messages of the cold store's temperature sensor at
a Mosquitto of its own for a persistent session, then drains them two ways, in alternating order:

- *hub*: the hub's own ingest (`iot.intake.SensorIngest`) writing straight into the database, as
  when the sensors publish to the hub's broker (the reference);
- *box*: `edge.sensors.BoxSensors` committing each batch to its readings outbox, acknowledging it
  and running the sensor rules, the outbox posting series of 1000 readings to the hub's
  `POST /edge/readings` (a hub served by `offsite up --api` in a process of its own), unpaced as
  on a live link.

Measured: readings per second until the hub holds all of them, and for the box also until its
outbox held all of them (the box's intake alone); the ratio box/hub of each round, the median.
At the default `edge.catch_up_per_s` (20 requests a second of 1000 readings) a catch-up is
bounded at 20 000 readings a second by design.

Uses OFFSITE_DATABASE_URL's server when set, else an embedded one; a database of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from api.auth import create_token
from bench.scratch import scratch_database
from bench.serving import offsite_up
from edge.readings import ReadingsOutbox
from edge.sensors import BoxSensors
from edge.uplink import HubUplink
from harness.mosquitto import Broker, start_broker
from hub.config import Deployment, load_config
from hub.host import wait_until
from hub.spool import DurableSink
from hub.store.db import Database, open_database
from hub.store.migrate import upgrade
from iot.intake import BrokerAddress, SensorIngest

REPO = Path(__file__).resolve().parent.parent
SITE = "lintong-coldstore"
TOPIC = f"sites/{SITE}/sensors/coldstore-temp/telemetry"
CLIENT = "bench-drain"


def queue(broker: Broker, start: datetime, count: int) -> None:
    """`count` readings 10 ms apart from `start`, queued at QoS 1 for the session `CLIENT`."""
    stamps = [(start + timedelta(milliseconds=10 * i)).timestamp() for i in range(count)]
    lines = [json.dumps({"temperature": -20 + i % 10 * 0.1, "ts": ts}) for i, ts in enumerate(stamps)]
    subprocess.run(
        ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-i", "bench-pub", "-t", TOPIC, "-l"],
        input="\n".join(lines) + "\n", text=True, check=True, timeout=600,
    )  # fmt: skip


def stored(db: Database, start: datetime, count: int) -> int:
    with db.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM readings WHERE sensor = 'coldstore-temp' AND time >= %s AND time < %s",
            (start, start + timedelta(milliseconds=10 * count)),
        ).fetchone()
    return int(row[0]) if row else 0


def session(deployment: Deployment, broker: Broker, db: Database) -> None:
    """Register the persistent session `CLIENT` subscribes with, so that queued messages wait."""
    ingest = SensorIngest(deployment, db, BrokerAddress(port=broker.port), client_id=CLIENT, tick_every=None)
    ingest.start()
    ingest.stop()


def hub_rate(deployment: Deployment, broker: Broker, db: Database, start: datetime, count: int) -> float:
    began = time.perf_counter()
    ingest = SensorIngest(deployment, db, BrokerAddress(port=broker.port), client_id=CLIENT)
    ingest.start()
    try:
        assert wait_until(lambda: stored(db, start, count) >= count, 600)
    finally:
        ingest.stop()
    return count / (time.perf_counter() - began)


def box_rate(
    deployment: Deployment, broker: Broker, db: Database, url: str, token: str, start: datetime,
    count: int, tmp: Path,
) -> tuple[float, float]:  # fmt: skip
    """(readings/s into the box's outbox, readings/s until the hub holds them)."""
    uplink = HubUplink(url, token)
    events = DurableSink(tmp / f"events-{start.timestamp():.0f}.sqlite", uplink)
    outbox = ReadingsOutbox(tmp / f"readings-{start.timestamp():.0f}.sqlite", uplink, SITE)
    sensors = BoxSensors(deployment, SITE, BrokerAddress(port=broker.port), outbox, events, client_id=CLIENT)
    began = time.perf_counter()
    sensors.start()
    try:
        assert wait_until(lambda: sensors.stats.readings >= count, 600)
        taken = time.perf_counter() - began
        assert wait_until(lambda: stored(db, start, count) >= count, 600)
        done = time.perf_counter() - began
    finally:
        sensors.stop()
        outbox.close()
        events.close()
        uplink.close()
    return count / taken, count / done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=20_000, help="per configuration and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    console = Console(soft_wrap=True)
    load = os.getloadavg()
    console.print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores")
    deployment = load_config(REPO / "configs" / "demo.yaml").deployment
    broker = start_broker()
    try:
        with (
            tempfile.TemporaryDirectory() as folder,
            scratch_database("offsite_bench_edge_readings", Path(folder)) as dsn,
        ):
            tmp = Path(folder)
            (tmp / "hub").mkdir()
            with offsite_up(dsn, tmp / "hub") as served:
                db = open_database(dsn, tmp, pool_size=2)
                try:
                    _, backend = upgrade(db)
                    console.print(backend.describe())
                    with db.transaction() as conn:
                        token = create_token(conn, "bench-box", "edge", datetime.now(UTC), site=SITE)
                    session(deployment, broker, db)
                    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
                    hub: list[float] = []
                    box_in: list[float] = []
                    box: list[float] = []
                    for round_ in range(args.rounds):
                        for name in ("hub", "box")[:: 1 if round_ % 2 == 0 else -1]:
                            queue(broker, start, args.readings)
                            if name == "hub":
                                hub.append(hub_rate(deployment, broker, db, start, args.readings))
                            else:
                                taken, done = box_rate(
                                    deployment, broker, db, served.url, token, start, args.readings, tmp
                                )
                                box_in.append(taken)
                                box.append(done)
                            start += timedelta(hours=1)
                finally:
                    db.close()
    finally:
        broker.remove()
    ratios = [b / h for b, h in zip(box, hub, strict=True)]
    rounded = [[round(x) for x in v] for v in (hub, box_in, box)]
    console.print(
        f"{args.readings} single readings, median of {args.rounds} rounds: hub's own ingest"
        f" {statistics.median(hub):.0f}/s {rounded[0]}; box: into its outbox"
        f" {statistics.median(box_in):.0f}/s {rounded[1]}, at the hub {statistics.median(box):.0f}/s"
        f" {rounded[2]}; ratio box/hub {[round(r, 2) for r in ratios]},"
        f" median {statistics.median(ratios):.2f}"
    )
    load = os.getloadavg()
    console.print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()

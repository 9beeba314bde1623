"""Sensor ingest rate against the broker's own client, on a real Mosquitto and TimescaleDB.

    .venv/bin/python -m bench.iot [--messages 50000] [--gateway-messages 2000]

For each kind of message, N messages are queued at QoS 1 in a persistent session while the
consumer is away; then the consumer comes back and drains them. The reference is
`mosquitto_sub` draining the same queue; offsite drains it and commits every reading to the
readings hypertable, acknowledging each message only after its commit.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from hub.config import Deployment
from hub.store.db import open_database
from hub.store.migrate import upgrade
from iot.ingest import BrokerAddress, SensorIngest, wait_until
from tests.iot.conftest import GATEWAY_TOPIC, TEMP_TOPIC, iot_config
from tests.mosquitto import Broker, start_broker
from tests.pgcluster import start_cluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def single_lines(n: int) -> list[str]:
    stamps = [(T0 + timedelta(milliseconds=i)).timestamp() for i in range(n)]
    return [json.dumps({"temperature": -20 + i % 10 * 0.1, "ts": ts}) for i, ts in enumerate(stamps)]


def gateway_lines(n: int, per: int = 100) -> list[str]:
    lines = []
    for m in range(n):
        items = []
        for k in range(per):
            ts = (T0 + timedelta(days=1, milliseconds=m * per + k)).timestamp()  # apart from the singles
            if k % 2:
                items.append({"sensor": "coldstore-temp", "temperature": -20.0, "ts": ts})
            else:
                items.append({"sensor": "dock-humidity", "rh": 500 - k, "ts": ts})
        lines.append(json.dumps(items))
    return lines


def queue_messages(broker: Broker, topic: str, lines: list[str]) -> None:
    """Publish lines at QoS 1 with the broker's own client (one message per line)."""
    subprocess.run(
        ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", topic, "-l"],
        input="\n".join(lines) + "\n", text=True, check=True, timeout=600,
    )  # fmt: skip


def mosquitto_sub_rate(broker: Broker, topic: str, lines: list[str]) -> float:
    base = ["mosquitto_sub", "-p", str(broker.port), "-q", "1", "-c", "-i", "bench-sub", "-t", topic]
    subprocess.run([*base, "-E"], check=True, timeout=30)  # register the persistent session
    queue_messages(broker, topic, lines)
    start = time.perf_counter()
    subprocess.run([*base, "-C", str(len(lines))], stdout=subprocess.DEVNULL, check=True, timeout=600)
    return len(lines) / (time.perf_counter() - start)


def offsite_rate(
    deployment: Deployment, dsn: str, broker: Broker, topic: str, lines: list[str], readings: int, tmp: Path
) -> tuple[float, float]:
    db = open_database(dsn, tmp, pool_size=2)
    try:
        address = BrokerAddress(port=broker.port)
        first = SensorIngest(deployment, db, address, client_id="bench-ingest")
        first.start()
        first.stop()  # the session now waits at the broker
        queue_messages(broker, topic, lines)
        ingest = SensorIngest(deployment, db, address, client_id="bench-ingest")
        start = time.perf_counter()
        ingest.start()
        done: Callable[[], bool] = lambda: ingest.stats.readings >= readings  # noqa: E731
        if not wait_until(done, 900, step=0.01):
            raise RuntimeError(f"only {ingest.stats.readings} of {readings} readings committed")
        if ingest.stats.stored != readings:
            raise RuntimeError(f"{ingest.stats.stored} new rows for {readings} readings")
        elapsed = time.perf_counter() - start
        ingest.stop()
        return len(lines) / elapsed, readings / elapsed
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--gateway-messages", type=int, default=2_000)
    args = parser.parse_args()
    console = Console()
    deployment = iot_config(batch_wait=0.2)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = start_cluster(Path(tmp), timescaledb=True)
        try:
            db = open_database(cluster.dsn, Path(tmp), pool_size=1)
            upgrade(db)
            db.close()
            results = []
            cases = [
                ("single-reading", TEMP_TOPIC, single_lines(args.messages), args.messages),
                (
                    "gateway x100",
                    GATEWAY_TOPIC,
                    gateway_lines(args.gateway_messages),
                    args.gateway_messages * 100,
                ),
            ]
            for name, topic, lines, readings in cases:
                console.print(f"[bold]{name}[/]: {len(lines)} messages, {readings} readings")
                broker = start_broker()  # a broker per case: no session carries messages over
                try:
                    reference = mosquitto_sub_rate(broker, topic, lines)
                    messages, stored = offsite_rate(
                        deployment, cluster.dsn, broker, topic, lines, readings, Path(tmp)
                    )
                finally:
                    broker.remove()
                results.append((name, reference, messages, stored))
        finally:
            cluster.remove()
    for name, reference, messages, stored in results:
        console.print(
            f"{name:15} mosquitto_sub {reference:9.0f} msg/s | offsite {messages:9.0f} msg/s"
            f" {stored:9.0f} readings/s committed | ratio {messages / reference:.2f}"
        )


if __name__ == "__main__":
    main()

"""Sensor ingest rate against the broker's own client, on a real Mosquitto and TimescaleDB.

    .venv/bin/python -m bench.iot [--messages 50000] [--gateway-messages 2000] [--workers 1 2]
        [--receivers mqtt5 paho] [--queue 20000] [--rounds 3]

For each kind of message, N messages are queued at QoS 1 in a persistent session while the
consumer is away; then the consumer comes back and drains them. The reference is
`mosquitto_sub` draining the same queue; offsite drains it and commits every reading to the
readings hypertable, acknowledging each message only after its commit. With several workers,
each is a process with its own session in one shared subscription, and the broker splits the
queue between them. `--receivers` picks the receive loops to measure: `mqtt5`
(`iot.mqtt5_receiver`, what MQTT 5 brokers get) and `paho` (`iot.receiver` on MQTT 3.1.1, what
the demo's embedded broker gets).

Each round measures `mosquitto_sub` right before every offsite run, so that a ratio compares
rates taken under the same load; the summary gives each setup's median over the rounds.

Mosquitto 2.0 stalls draining much more than 65535 messages queued for one session (their
packet ids wrap around), for its own client as for ours: keep N per session below that.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path

from rich.console import Console

from harness.mosquitto import Broker, start_broker
from harness.pgcluster import start_cluster
from harness.sensors import GATEWAY_TOPIC, TEMP_TOPIC, iot_config
from hub.config import Deployment
from hub.host import wait_until
from hub.store.db import open_database
from hub.store.migrate import upgrade
from iot.intake import BrokerAddress, SensorIngest

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MAX_QUEUED = 65_535


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


@contextmanager
def fresh_broker() -> Iterator[Broker]:
    broker = start_broker()
    try:
        yield broker
    finally:
        broker.remove()


def mosquitto_sub_rate(broker: Broker, topic: str, lines: list[str]) -> float:
    base = ["mosquitto_sub", "-p", str(broker.port), "-q", "1", "-c", "-i", "bench-sub", "-t", topic]
    subprocess.run([*base, "-E"], check=True, timeout=30)  # register the persistent session
    queue_messages(broker, topic, lines)
    start = time.perf_counter()
    subprocess.run([*base, "-C", str(len(lines))], stdout=subprocess.DEVNULL, check=True, timeout=600)
    return len(lines) / (time.perf_counter() - start)


def bench_config(workers: int, queue: int | None = None) -> Deployment:
    """The cold store's deployment; `queue` is `iot.queue` (Receive Maximum), None its default."""
    size = {} if queue is None else {"queue": queue}
    return iot_config(batch_wait=0.2, share_group="bench" if workers > 1 else None, **size)


def address(port: int, receiver: str) -> BrokerAddress:
    return BrokerAddress(port=port, mqtt5=receiver == "mqtt5")


def offsite_rate(
    dsn: str, broker: Broker, topic: str, lines: list[str], readings: int, tmp: Path, workers: int = 1,
    receiver: str = "mqtt5", queue: int | None = None,
) -> tuple[float, float]:  # fmt: skip
    """Messages and readings per second that `workers` ingest processes drain and commit."""
    ids = [f"bench-ingest-{n}" for n in range(workers)]
    deployment = bench_config(workers, queue)
    db = open_database(dsn, tmp, pool_size=2)
    try:
        with db.pool.connection() as conn:
            conn.execute("TRUNCATE readings")
        for client_id in ids:
            first = SensorIngest(deployment, db, address(broker.port, receiver), client_id=client_id)
            first.start()
            first.stop()  # the session now waits at the broker
    finally:
        db.close()
    queue_messages(broker, topic, lines)
    spawn = multiprocessing.get_context("spawn")  # no fork of a process with threads
    ready, stop = spawn.Barrier(workers + 1), spawn.Event()
    counts = [(spawn.Value("q", 0), spawn.Value("q", 0)) for _ in ids]
    processes = [
        spawn.Process(
            target=_worker,
            args=(dsn, address(broker.port, receiver), client_id, deployment, tmp, ready, stop, *count),
        )
        for client_id, count in zip(ids, counts, strict=True)
    ]
    for process in processes:
        process.start()

    def committed() -> int:
        return sum(n.value for n, _ in counts)

    def running() -> bool:
        return all(process.is_alive() for process in processes)

    try:
        ready.wait(timeout=60)
        start = time.perf_counter()
        wait_until(lambda: committed() >= readings or not running(), 900, step=0.01)
        elapsed = time.perf_counter() - start
        if committed() < readings:
            died = "" if running() else " (a worker died)"
            raise RuntimeError(f"only {committed()} of {readings} readings committed{died}")
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=60)
    stored = sum(s.value for _, s in counts)
    if stored != readings:
        raise RuntimeError(f"{stored} new rows for {readings} readings")
    return len(lines) / elapsed, readings / elapsed


def _worker(
    dsn: str, broker: BrokerAddress, client_id: str, deployment: Deployment, tmp: Path, ready: Barrier,
    stop: Event,
    readings: Synchronized[int], stored: Synchronized[int],
) -> None:  # fmt: skip
    """One ingest process: starts when all are ready, and reports what it has committed."""
    db = open_database(dsn, tmp, pool_size=2)
    ingest = SensorIngest(deployment, db, broker, client_id=client_id)
    try:
        ready.wait(timeout=60)
        ingest.start()
        while not stop.wait(0.005):
            stored.value = ingest.stats.stored
            readings.value = ingest.stats.readings  # last: the stored count is in by then
        ingest.stop()
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--gateway-messages", type=int, default=2_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="ingest processes to try")
    parser.add_argument("--receivers", nargs="+", choices=["mqtt5", "paho"], default=["mqtt5"])
    parser.add_argument(
        "--queue", type=int, help="iot.queue (Receive Maximum) of each worker; default its default"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every setup, interleaved")
    args = parser.parse_args()
    if max(args.messages, args.gateway_messages) > MAX_QUEUED:
        parser.error(f"Mosquitto stalls draining more than {MAX_QUEUED} messages queued for one session")
    console = Console(width=160)
    results: list[tuple[str, str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cluster = start_cluster(Path(tmp), timescaledb=True)
        try:
            db = open_database(cluster.dsn, Path(tmp), pool_size=1)
            upgrade(db)
            db.close()
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
                for _ in range(args.rounds):
                    for receiver in args.receivers:
                        for workers in args.workers:
                            with fresh_broker() as broker:  # a broker per run: no session carries over
                                reference = mosquitto_sub_rate(broker, topic, lines)
                            with fresh_broker() as broker:
                                messages, stored = offsite_rate(
                                    cluster.dsn, broker, topic, lines, readings, Path(tmp), workers,
                                    receiver, args.queue,
                                )  # fmt: skip
                            how = f"{receiver} x{workers}"
                            results.append((name, how, reference, messages, stored))
                            console.print(
                                f"{name:15} mosquitto_sub {reference:9.0f} msg/s | offsite {how:8}"
                                f" {messages:9.0f} msg/s {stored:9.0f} readings/s committed"
                                f" | ratio {messages / reference:.2f} | load {os.getloadavg()[0]:.1f}"
                            )
        finally:
            cluster.remove()
    console.print(f"[bold]median of {args.rounds} rounds[/] (ratio: to mosquitto_sub in the same round)")
    for name, how in dict.fromkeys((name, how) for name, how, *_ in results):
        runs = [r for r in results if r[:2] == (name, how)]
        ratio = statistics.median(m / ref for _, _, ref, m, _ in runs)
        stored = statistics.median(s for *_, s in runs)
        reference = statistics.median(ref for _, _, ref, _, _ in runs)
        console.print(
            f"{name:15} offsite {how:8} ratio {ratio:.2f} | {stored:9.0f} readings/s committed"
            f" | mosquitto_sub {reference:9.0f} msg/s"
        )
    console.print("load average " + " ".join(f"{load:.2f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()

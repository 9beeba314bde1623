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
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Run:
    """One drain: its rate, and the CPU seconds each part spent on it (the consumer: offsite's
    workers or `mosquitto_sub`; PostgreSQL; the broker). CPU does not shrink with other work on
    the box the way a rate does: compare it when the box is busy."""

    messages: float  # per second
    readings: float  # committed per second
    consumer: float
    database: float
    broker: float

    def cpu_per_message(self, count: int) -> float:
        """Microseconds of CPU, all parts together, per message."""
        return (self.consumer + self.database + self.broker) * 1e6 / count


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and of its children it has waited for (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cluster_cpu(postmaster: int) -> float:
    """CPU of a PostgreSQL server: the postmaster, the backends it reaped and the living ones."""
    total = cpu_seconds(postmaster)
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster
            ):
                total += cpu_seconds(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile: its time is in the postmaster's
    return total


def mosquitto_sub_rate(broker: Broker, topic: str, lines: list[str]) -> Run:
    base = ["mosquitto_sub", "-p", str(broker.port), "-q", "1", "-c", "-i", "bench-sub", "-t", topic]
    subprocess.run([*base, "-E"], check=True, timeout=30)  # register the persistent session
    queue_messages(broker, topic, lines)
    assert broker.process is not None
    before, broker_before = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_seconds(broker.process.pid)
    start = time.perf_counter()
    subprocess.run([*base, "-C", str(len(lines))], stdout=subprocess.DEVNULL, check=True, timeout=600)
    rate = len(lines) / (time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # mosquitto_sub is the one child reaped since
    client = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Run(rate, rate, client, 0.0, cpu_seconds(broker.process.pid) - broker_before)


def bench_config(workers: int, queue: int | None = None) -> Deployment:
    """The cold store's deployment; `queue` is `iot.queue` (Receive Maximum), None its default."""
    size = {} if queue is None else {"queue": queue}
    return iot_config(batch_wait=0.2, share_group="bench" if workers > 1 else None, **size)


def address(port: int, receiver: str) -> BrokerAddress:
    return BrokerAddress(port=port, mqtt5=receiver == "mqtt5")


def offsite_rate(
    dsn: str, postmaster: int, broker: Broker, topic: str, lines: list[str], readings: int, tmp: Path,
    workers: int = 1, receiver: str = "mqtt5", queue: int | None = None,
) -> Run:  # fmt: skip
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
    counts = [(spawn.Value("q", 0), spawn.Value("q", 0), spawn.Value("d", 0.0)) for _ in ids]
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
        return sum(n.value for n, _, _ in counts)

    def running() -> bool:
        return all(process.is_alive() for process in processes)

    assert broker.process is not None
    try:
        ready.wait(timeout=60)
        start = time.perf_counter()
        database, broker_cpu = cluster_cpu(postmaster), cpu_seconds(broker.process.pid)
        wait_until(lambda: committed() >= readings or not running(), 900, step=0.01)
        elapsed = time.perf_counter() - start
        database, broker_cpu = (
            cluster_cpu(postmaster) - database,
            cpu_seconds(broker.process.pid) - broker_cpu,
        )
        consumer = sum(cpu.value for _, _, cpu in counts)
        if committed() < readings:
            died = "" if running() else " (a worker died)"
            raise RuntimeError(f"only {committed()} of {readings} readings committed{died}")
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=60)
    stored = sum(s.value for _, s, _ in counts)
    if stored != readings:
        raise RuntimeError(f"{stored} new rows for {readings} readings")
    return Run(len(lines) / elapsed, readings / elapsed, consumer, database, broker_cpu)


def _worker(
    dsn: str, broker: BrokerAddress, client_id: str, deployment: Deployment, tmp: Path, ready: Barrier,
    stop: Event,
    readings: Synchronized[int], stored: Synchronized[int], cpu: Synchronized[float],
) -> None:  # fmt: skip
    """One ingest process: starts when all are ready, and reports what it has committed and the
    CPU it has spent since."""
    db = open_database(dsn, tmp, pool_size=2)
    ingest = SensorIngest(deployment, db, broker, client_id=client_id)
    try:
        ready.wait(timeout=60)
        began = time.process_time()
        ingest.start()
        while not stop.wait(0.005):
            cpu.value = time.process_time() - began
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
    console = Console(soft_wrap=True)
    results: list[tuple[str, str, int, Run, Run]] = []  # case, setup, messages, reference, offsite
    with tempfile.TemporaryDirectory() as tmp:
        cluster = start_cluster(Path(tmp), timescaledb=True)
        postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
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
                                run = offsite_rate(
                                    cluster.dsn, postmaster, broker, topic, lines, readings, Path(tmp),
                                    workers, receiver, args.queue,
                                )  # fmt: skip
                            how = f"{receiver} x{workers}"
                            results.append((name, how, len(lines), reference, run))
                            console.print(f"{name:15} {how:8} {_line(len(lines), reference, run)}"
                                          f" | load {os.getloadavg()[0]:.1f}")  # fmt: skip
        finally:
            cluster.remove()
    console.print(
        f"[bold]median of {args.rounds} rounds[/] (ratio: to mosquitto_sub in the same round; CPU: us a"
        " message, consumer + PostgreSQL + broker)"
    )
    for name, how in dict.fromkeys((name, how) for name, how, *_ in results):
        runs = [r for r in results if r[:2] == (name, how)]
        median = statistics.median_low  # a round's own figures, not a mean of two
        count = runs[0][2]
        reference = Run(*(median(getattr(r[3], f) for r in runs) for f in _FIELDS))
        run = Run(*(median(getattr(r[4], f) for r in runs) for f in _FIELDS))
        ratio = median(r[4].messages / r[3].messages for r in runs)
        cpu = median(r[3].cpu_per_message(count) / r[4].cpu_per_message(count) for r in runs)
        console.print(f"{name:15} {how:8} {_line(count, reference, run, ratio, cpu)}")
    console.print("load average " + " ".join(f"{load:.2f}" for load in os.getloadavg()))


_FIELDS = ("messages", "readings", "consumer", "database", "broker")


def _line(count: int, reference: Run, run: Run, ratio: float | None = None, cpu: float | None = None) -> str:
    """One setup's figures against the reference: rates, their ratio, CPU a message and its ratio
    (`mosquitto_sub`'s CPU over offsite's: above 1, offsite spends less)."""
    ratio = run.messages / reference.messages if ratio is None else ratio
    cpu = reference.cpu_per_message(count) / run.cpu_per_message(count) if cpu is None else cpu
    mine = "+".join(f"{1e6 * t / count:.1f}" for t in (run.consumer, run.database, run.broker))
    theirs = "+".join(f"{1e6 * t / count:.1f}" for t in (reference.consumer, reference.broker))
    return (
        f"mosquitto_sub {reference.messages:8.0f} msg/s | offsite {run.messages:8.0f} msg/s"
        f" {run.readings:8.0f} readings/s committed | ratio {ratio:.2f}"
        f" | CPU us/msg offsite {mine} mosquitto_sub {theirs} (ratio {cpu:.2f})"
    )


if __name__ == "__main__":
    main()

"""The outbox (issue 14): its cost on the intake, and how fast delivery empties it.

    .venv/bin/python -m bench.outputs [--events 2000] [--threads 4] [--rounds 3] [--changes 3000]

Intake: `--events` inspections that found nothing (each one a new supervision-action record: its
INSERT and, with an outbox, its change), through the pipeline on `--threads` threads, in three
configurations interleaved `--rounds` times, each with the delivery process that `offsite up` runs
beside it (offsite/delivering.py, in a process of its own):

- *no outbox*: `hub.outbox.enqueue` replaced by nothing and the record's INSERT without the
  outbox row folded into it: the intake as it was before the outbox;
- *no destination*: the deployment configures no output;
- *webhook*: one destination, delivering meanwhile to a local receiver.

Ratios are against *no outbox* of the same round. Beside each rate, the CPU time an inspection
costs all told (this process, the database server's processes and the delivery process, until
the delivery has caught up with the intake): on a loaded machine the rates swing with the other
work, the CPU per inspection much less (it needs the server on this machine).

Throughput: the record changes of `--changes` inspections written, then delivered by one worker
to a local receiver (answering 204, in a process of its own): changes per second to a webhook
(one signed POST each) and to the exchange (batches of 100 records).

Uses OFFSITE_DATABASE_URL's server when set, else an embedded server in a temp folder; works in a
database of its own that it drops afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from unittest import mock

from rich.console import Console
from rich.table import Table

from bench.pipeline import events, receiver
from bench.scratch import scratch_database
from hub import outbox
from hub import pipeline as pipeline_module
from hub.config import Deployment, load_config
from hub.config.outputs import Exchange, Webhook
from hub.delivery import Deliverer, destinations
from hub.host import children_of, wait_for
from hub.pipeline import Pipeline, utc_now
from hub.records import ACTION_INSERT
from hub.store.db import Database, open_database
from hub.store.migrate import upgrade
from offsite.delivering import APPLICATION_NAME, DeliveryWorkers

SECRETS = {"BENCH_SECRET": "bench-secret-0123456789", "BENCH_TOKEN": "bench-token-0123456789"}
CONFIGURATIONS = ("no outbox", "no destination", "webhook")
DEMO = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def _both(*patches: AbstractContextManager[object]) -> Iterator[None]:
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield


def _with(deployment: Deployment, output: Webhook | Exchange | None) -> Deployment:
    return deployment.model_copy(update={"outputs": [] if output is None else [output]})


def _config_text(output: Webhook | None) -> str:
    """The demo's deployment file, with `output` as its one destination."""
    text = DEMO.read_text(encoding="utf-8")
    if output is None:
        return text
    fields = f"id: {output.id}, kind: webhook, url: '{output.url}', secret_env: {output.secret_env}"
    return text + f"\noutputs:\n  - {{{fields}}}\n"


@contextmanager
def _delivering(db: Database, dsn: str, deployment: Deployment, config_text: str) -> Iterator[list[int]]:
    """The delivery process of `offsite up` beside the intake (its pids); after the block, what is
    left is delivered before the next configuration starts."""
    workers = DeliveryWorkers(config_text, dsn, 1)
    workers.start()
    try:
        wait_for(lambda: _sessions(db) > 0, timeout=30, failure="the delivery process did not connect")
        yield [slot.process.pid for slot in workers.slots if slot.process is not None]
    finally:
        workers.stop()
    rest = Deliverer(db, destinations(deployment, SECRETS), utc_now)
    while rest.round().delivered:
        pass


def _sessions(db: Database) -> int:
    """The delivery processes' connections to the database: once there, their start-up (imports,
    connecting) is over and the intake's time measures delivery alone."""
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = %s",
            (APPLICATION_NAME,),
        ).fetchone()
    return int(row[0]) if row else 0


def _caught_up(db: Database) -> bool:
    """Whether every change is fanned out and none is pending."""
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE NOT fanned)"
            " AND NOT EXISTS (SELECT 1 FROM outbox_deliveries WHERE state = 'pending')"
        ).fetchone()
    return bool(row and row[0])


def _server_pids(db: Database) -> list[int]:
    """The database server's processes, when it runs on this machine (else none)."""
    with db.transaction() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    try:
        postmaster = _stat(int(row[0]) if row else 0)[1]
    except (OSError, IndexError):
        return []
    return [int(postmaster), *children_of(int(postmaster))]


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command's name: state, ppid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user and system) of this process and of `pids` so far."""
    total = time.process_time()
    for pid in pids:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _changes(db: Database) -> int:
    """The last change written to the outbox so far (its id)."""
    with db.transaction() as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()
    return int(row[0]) if row else 0


def intake(db: Database, deployment: Deployment, threads: int, n: int, prefix: str) -> float:
    """Inspections per second through the pipeline on `threads` threads."""
    pipeline = Pipeline(deployment, "0" * 64)

    def take(e: object) -> None:
        with db.transaction() as conn:
            pipeline.take(conn, e)  # type: ignore[arg-type]

    batch = events(n, prefix, problem=False)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(take, batch))
    return n / (time.perf_counter() - start)


def throughput(
    db: Database, deployment: Deployment, output: Webhook | Exchange, n: int, prefix: str
) -> float:
    """Changes per second one worker delivers of the record changes of `n` inspections written
    beforehand."""
    with db.transaction() as conn:  # nothing of earlier phases left to deliver
        conn.execute("DELETE FROM outbox")
    intake(db, _with(deployment, None), 4, n, prefix)
    with db.transaction() as conn:  # a fourth of the inspections make no record
        row = conn.execute("SELECT count(*) FROM outbox").fetchone()
    written = int(row[0]) if row else 0
    worker = Deliverer(db, destinations(_with(deployment, output), SECRETS), utc_now)
    delivered, start = 0, time.perf_counter()
    while True:
        done = worker.round()
        if not (done.fanned or done.delivered):
            break
        delivered += done.delivered
        if done.failed or done.dead:
            raise RuntimeError(f"{output.id}: the receiver refused changes: {done}")
    rate = delivered / (time.perf_counter() - start)
    if delivered != written:
        raise RuntimeError(f"{output.id}: delivered {delivered} of {written} changes")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=3000)
    args = parser.parse_args()
    console = Console(width=120)
    demo = load_config(DEMO).deployment
    os.environ.update(SECRETS)  # the delivery process reads its secrets from the environment
    load = [os.getloadavg()[0]]
    rates: dict[str, list[float]] = {c: [] for c in CONFIGURATIONS}
    cpu: dict[str, list[float]] = {c: [] for c in CONFIGURATIONS}  # ms per inspection
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database("offsite_bench_outputs", Path(tmp)) as dsn,
        receiver() as url,
    ):
        db = open_database(dsn, Path(tmp), pool_size=args.threads + 2)
        try:
            _, backend = upgrade(db)
            hook = Webhook(id="bench", kind="webhook", url=url, secret_env="BENCH_SECRET")
            exchange = Exchange(id="province", kind="exchange", url=url, token_env="BENCH_TOKEN")
            console.print(f"backend: {backend.describe()}; {args.events} inspections x {args.rounds} rounds")
            # Before the outbox: no enqueue, and the record's INSERT without its folded row.
            unwritten = mock.patch.multiple(outbox, enqueue=lambda *_: None)
            unfolded = mock.patch.object(pipeline_module, "ACTION_INSERT_QUEUED", ACTION_INSERT)
            setups: dict[str, tuple[Webhook | None, Callable[[], AbstractContextManager[object]]]] = {
                "no outbox": (None, lambda: _both(unwritten, unfolded)),
                "no destination": (None, nullcontext),
                "webhook": (hook, nullcontext),
            }
            intake(db, demo, args.threads, 200, "warm")  # connections, prepared statements
            for r in range(args.rounds):
                for name in CONFIGURATIONS:
                    output, patch = setups[name]
                    deployment = _with(demo, output)
                    written = _changes(db)
                    with patch(), _delivering(db, dsn, deployment, _config_text(output)) as delivery:
                        pids = _server_pids(db) + delivery
                        before = _cpu(pids)
                        rates[name].append(
                            intake(db, deployment, args.threads, args.events, f"{name.replace(' ', '-')}-{r}")
                        )
                        wait_for(lambda: _caught_up(db), 120, 0.2, f"{name}: delivery fell behind")
                        cpu[name].append((_cpu(pids) - before) / args.events * 1000)
                    if (_changes(db) > written) == (name == "no outbox"):
                        raise RuntimeError(f"{name}: the outbox was written, or not, against the setup")
                    load.append(os.getloadavg()[0])
            hook_rate = throughput(db, demo, hook, args.changes, "hook")
            exchange_rate = throughput(db, demo, exchange, args.changes, "exchange")
            load.append(os.getloadavg()[0])
        finally:
            db.close()

    table = Table(title=f"inspections/s on {args.threads} threads (ratio to no outbox, same round)")
    table.add_column("configuration")
    for r in range(args.rounds):
        table.add_column(f"round {r + 1}", justify="right")
    table.add_column("median ratio", justify="right")
    table.add_column("CPU ms/inspection (ratio)", justify="right")
    for name in CONFIGURATIONS:
        ratios = [a / b for a, b in zip(rates[name], rates["no outbox"], strict=True)]
        cells = [f"{rate:.0f} ({ratio:.2f})" for rate, ratio in zip(rates[name], ratios, strict=True)]
        costs = [a / b for a, b in zip(cpu[name], cpu["no outbox"], strict=True)]
        spent = f"{statistics.median(cpu[name]):.2f} ({statistics.median(costs):.2f})"
        table.add_row(name, *cells, f"{statistics.median(ratios):.2f}", spent)
    console.print(table)
    console.print(
        f"delivery, one worker: webhook {hook_rate:.0f} changes/s, exchange {exchange_rate:.0f} changes/s"
    )
    console.print(
        f"load average (1 min) during the run: {min(load):.1f} to {max(load):.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()

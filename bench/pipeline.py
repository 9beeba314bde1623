"""Event intake rate of the hub pipeline, against a raw one-row INSERT per transaction.

    .venv/bin/python -m bench.pipeline [--events 3000] [--threads 4] [--webhook]

`--webhook` configures one destination (a local receiver answering 204) and runs the outbox's
delivery worker beside the intake: the intake's cost of the outbox and its delivery.

Uses OFFSITE_DATABASE_URL's server when set, else an embedded server in a temp folder; works in a
database of its own that it drops afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rich.console import Console
from rich.progress import track

from bench.scratch import scratch_database
from hub.config import load_config
from hub.events import Event
from hub.host import free_port, wait_for
from hub.pipeline import Pipeline, utc_now
from hub.store.db import open_database
from hub.store.migrate import upgrade

SOURCES = [
    ("camera:hall-window-1", "lintong-hall", "window-absence"),
    ("camera:hall-waiting", "lintong-hall", "hall-queue"),
    ("sensor:coldstore-temp", "lintong-coldstore", "coldstore-too-warm"),
    ("sensor:coldstore-gas", "lintong-coldstore", "coldstore-gas-high"),
]


def events(n: int, prefix: str, problem: bool = True) -> list[Event]:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i in range(n):
        source, site, rule = SOURCES[i % len(SOURCES)]
        out.append(
            Event(
                id=f"{prefix}-{i}",
                source=source,
                site=site,
                rule=rule,
                time=t0 + timedelta(milliseconds=i),
                problem=problem,
            )
        )
    return out


class _Accept(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver would

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _serve(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Accept).serve_forever()


@contextmanager
def receiver() -> Iterator[str]:
    """A local webhook receiver that takes everything, in a process of its own (as a receiver is:
    it must not share the hub's interpreter lock); its URL."""
    port = free_port()
    process = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    process.start()
    try:
        wait_for(lambda: _listening(port), timeout=10, failure="the receiver did not start")
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        process.terminate()
        process.join()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--webhook", action="store_true", help="deliver to a local receiver meanwhile")
    args = parser.parse_args()
    console = Console()
    loaded = load_config(Path(__file__).resolve().parent.parent / "configs" / "demo.yaml")
    stop = threading.Event()
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database("offsite_bench", Path(tmp)) as dsn,
        receiver() as url,
    ):
        db = open_database(dsn, Path(tmp), pool_size=args.threads + 1)
        try:
            _, backend = upgrade(db)
            pipeline = Pipeline(loaded.deployment, loaded.sha256)
            console.print(f"backend: {backend.describe()}; {args.events} events; webhook: {args.webhook}")
            if args.webhook:  # imported here: the bench also runs on trees without an outbox
                from hub.config.outputs import Webhook
                from hub.delivery import Deliverer, destinations

                hook = Webhook(id="bench", kind="webhook", url=url, secret_env="BENCH_SECRET")
                deployment = loaded.deployment.model_copy(update={"outputs": [hook]})
                targets = destinations(deployment, {"BENCH_SECRET": "bench-secret-0123456789"})
                worker = Deliverer(db, targets, utc_now)
                threading.Thread(target=worker.run, args=(stop, 0.2), daemon=True).start()

            # Reference: the same rows, one INSERT and commit each, nothing else.
            raw = events(args.events, "raw")
            start = time.perf_counter()
            with db.pool.connection() as conn:
                for e in track(raw, description="raw insert", console=console, transient=True):
                    conn.execute(
                        "INSERT INTO events (id, source, site, rule, severity, time, received_at, outcome)"
                        " VALUES (%s, %s, %s, %s, 'major', %s, now(), 'raw')",
                        (e.id, e.source, e.site, e.rule, e.time),
                    )
                    conn.commit()
            raw_rate = args.events / (time.perf_counter() - start)

            def take(e: Event) -> None:
                with db.transaction() as conn:
                    pipeline.take(conn, e)

            one = events(args.events, "seq")
            start = time.perf_counter()
            for e in track(one, description="pipeline, 1 thread", console=console, transient=True):
                take(e)
            seq_rate = args.events / (time.perf_counter() - start)

            many = events(args.events, "par")
            start = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(take, many))
            par_rate = args.events / (time.perf_counter() - start)

            # Inspections that found nothing: each one a new supervision-action record (and, with
            # an outbox, its change); the findings above mostly repeat four open alerts.
            clean = events(args.events, "ok", problem=False)
            start = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(take, clean))
            clean_rate = args.events / (time.perf_counter() - start)

            dup_start = time.perf_counter()
            for e in one[:1000]:
                take(e)
            dup_rate = 1000 / (time.perf_counter() - dup_start)
            if args.webhook:
                start = time.perf_counter()
                while worker.round().delivered:
                    pass
                console.print(f"delivery caught up {time.perf_counter() - start:.1f} s after the intake")
        finally:
            stop.set()
            db.close()
    console.print(f"raw INSERT + commit      {raw_rate:8.0f} rows/s (reference)")
    console.print(f"pipeline, 1 thread       {seq_rate:8.0f} events/s  ratio {seq_rate / raw_rate:.2f}")
    console.print(
        f"pipeline, {args.threads} threads      {par_rate:8.0f} events/s  ratio {par_rate / raw_rate:.2f}"
    )
    console.print(
        f"inspections, {args.threads} threads   {clean_rate:8.0f} events/s  ratio {clean_rate / raw_rate:.2f}"
    )
    console.print(f"duplicates (redelivery)  {dup_rate:8.0f} events/s  ratio {dup_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()

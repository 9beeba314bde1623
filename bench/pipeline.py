"""Event intake rate of the hub pipeline, against a raw one-row INSERT per transaction.

    .venv/bin/python -m bench.pipeline [--events 3000] [--threads 4]

Uses OFFSITE_DATABASE_URL's server when set, else an embedded server in a temp folder; works in a
database of its own that it drops afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import track

from bench.scratch import scratch_database
from hub.config import load_config
from hub.events import Event
from hub.pipeline import Pipeline
from hub.store.db import open_database
from hub.store.migrate import upgrade

SOURCES = [
    ("camera:hall-window-1", "lintong-hall", "window-absence"),
    ("camera:hall-waiting", "lintong-hall", "hall-queue"),
    ("sensor:coldstore-temp", "lintong-coldstore", "coldstore-too-warm"),
    ("sensor:coldstore-gas", "lintong-coldstore", "coldstore-gas-high"),
]


def events(n: int, prefix: str) -> list[Event]:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i in range(n):
        source, site, rule = SOURCES[i % len(SOURCES)]
        out.append(
            Event(
                id=f"{prefix}-{i}", source=source, site=site, rule=rule, time=t0 + timedelta(milliseconds=i)
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    console = Console()
    loaded = load_config(Path(__file__).resolve().parent.parent / "configs" / "demo.yaml")
    with tempfile.TemporaryDirectory() as tmp, scratch_database("offsite_bench", Path(tmp)) as dsn:
        db = open_database(dsn, Path(tmp), pool_size=args.threads)
        try:
            _, backend = upgrade(db)
            pipeline = Pipeline(loaded.deployment, loaded.sha256)
            console.print(f"backend: {backend.describe()}; {args.events} events")

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

            dup_start = time.perf_counter()
            for e in one[:1000]:
                take(e)
            dup_rate = 1000 / (time.perf_counter() - dup_start)
        finally:
            db.close()
    console.print(f"raw INSERT + commit      {raw_rate:8.0f} rows/s (reference)")
    console.print(f"pipeline, 1 thread       {seq_rate:8.0f} events/s  ratio {seq_rate / raw_rate:.2f}")
    console.print(
        f"pipeline, {args.threads} threads      {par_rate:8.0f} events/s  ratio {par_rate / raw_rate:.2f}"
    )
    console.print(f"duplicates (redelivery)  {dup_rate:8.0f} events/s  ratio {dup_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()

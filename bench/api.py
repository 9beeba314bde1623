"""Latency of the API's first pages with 1 million alerts and 100 thousand clues, 20 clients at once.

    .venv/bin/python -m bench.api [--alerts 1000000] [--clues 100000] [--clients 20] [--requests 50]

Uses OFFSITE_DATABASE_URL's server when set, else an embedded server in a temp folder; works in a
database of its own that it drops afterwards. The rows are seeded with generate_series, not the
pipeline; the API runs as `offsite up --api` in a process of its own.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from psycopg.conninfo import make_conninfo
from rich.console import Console

from api.auth import create_token
from hub.store.db import open_database
from hub.store.embedded import start_embedded
from hub.store.migrate import upgrade

REPO = Path(__file__).resolve().parent.parent
DEPARTMENTS = ["market", "hall-office", *(f"dept-{n}" for n in range(8))]
SEED = """
INSERT INTO events (id, source, site, rule, severity, time, received_at, outcome)
SELECT 'seed-' || n, 'sensor:s' || n, 'lintong-coldstore', 'coldstore-gas-high', 'major',
       now() - n * interval '1 second', now(), 'opened'
FROM generate_series(0, %(clues)s) n;
ALTER TABLE alerts DISABLE TRIGGER alerts_changes;
INSERT INTO alerts (source, site, rule, title, severity, status, first_seen, last_seen, first_event,
                    last_event, updated_at)
SELECT 'camera:c' || n,
       (ARRAY['lintong-hall', 'lintong-coldstore', 'site-3', 'site-4'])[1 + n %% 4],
       (ARRAY['window-absence', 'coldstore-gas-high', 'coldstore-too-warm', 'window-absence'])[1 + n %% 4],
       'seeded alert', (ARRAY['info', 'minor', 'major', 'critical'])[1 + n %% 7 %% 4],
       (ARRAY['open', 'acknowledged', 'closed', 'closed', 'closed', 'dismissed'])[1 + n %% 6],
       now() - n * interval '3 seconds', now() - n * interval '3 seconds', 'seed-0', 'seed-0', now()
FROM generate_series(1, %(alerts)s) n;
ALTER TABLE alerts ENABLE TRIGGER alerts_changes;
INSERT INTO risk_clues (event_id, alert_id, route_id, department, department_code, site, rule,
                        item_code, title, risk_class, status, issued_at, claim_deadline,
                        feedback_deadline, updated_at)
SELECT 'seed-' || n, 1 + (n * 7919) %% %(alerts)s, 'seed', (%(departments)s::text[])[1 + n %% 10],
       '11610115MB0135867H', 'lintong-coldstore', 'coldstore-gas-high', '61011500200011', 'seeded clue',
       1 + n %% 3, (ARRAY['issued', 'claimed', 'handled', 'fed_back', 'closed'])[1 + n %% 5],
       now() - n * interval '30 seconds', now(), now() + interval '1 day', now()
FROM generate_series(1, %(clues)s) n;
ANALYZE;
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(url: str, token: str, path: str, clients: int, requests: int) -> tuple[float, float, float]:
    """p50 and p95 latency in ms, and requests per second, of `clients` clients calling `path`."""

    def client(_: int) -> list[float]:
        out = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            c.get(path).raise_for_status()  # warm the connection
            for _ in range(requests):
                start = time.perf_counter()
                c.get(path).raise_for_status()
                out.append((time.perf_counter() - start) * 1000)
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        samples = [s for batch in pool.map(client, range(clients)) for s in batch]
    rate = len(samples) / (time.perf_counter() - start)
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[94], rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--clues", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        embedded = None
        server = os.environ.get("OFFSITE_DATABASE_URL")
        if server is None:
            embedded = start_embedded(Path(tmp) / "pg")
            server = embedded.dsn
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS offsite_bench_api WITH (FORCE)")
            conn.execute("CREATE DATABASE offsite_bench_api")
        dsn = make_conninfo(server, dbname="offsite_bench_api")
        db = open_database(dsn, Path(tmp), pool_size=1)
        proc = None
        try:
            _, backend = upgrade(db)
            start = time.perf_counter()
            with db.transaction() as conn:
                params = {"alerts": args.alerts, "clues": args.clues, "departments": DEPARTMENTS}
                # client-side binding: the seed is several statements in one go
                psycopg.ClientCursor(conn).execute(SEED.encode(), params)
                now = datetime.now(UTC)
                operator = create_token(conn, "bench", "operator", now)
                market = create_token(conn, "bench-market", "department", now, department="market")
            console.print(f"{backend.describe()}; seeded in {time.perf_counter() - start:.0f} s")
            port = _free_port()
            env = {**os.environ, "OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": tmp}
            command = [sys.executable, "-m", "hub.cli", "up", "-c", str(REPO / "configs" / "demo.yaml")]
            api = ["--api", f"127.0.0.1:{port}", "--upkeep-every", "86400"]
            proc = subprocess.Popen([*command, *api], env=env, cwd=tmp, stdout=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}"
            while True:
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            cases = [
                ("alerts, no filter", operator, "/alerts?limit=50"),
                ("alerts, site", operator, "/alerts?limit=50&site=lintong-hall"),
                ("alerts, status + severity", operator, "/alerts?limit=50&status=open&severity=critical"),
                ("alerts, time range", operator, "/alerts?limit=50&since=2020-01-01T00:00:00Z"),
                ("clues of one department", market, "/clues?limit=50"),
            ]
            for name, token, path in cases:
                p50, p95, rate = measure(url, token, path, args.clients, args.requests)
                console.print(f"{name:28} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  {rate:6.0f} req/s")
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
            db.close()
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS offsite_bench_api WITH (FORCE)")
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    main()

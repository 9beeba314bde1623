"""Latency of the API's first pages with 1 million alerts and 100 thousand clues, 20 clients at once.

    .venv/bin/python -m bench.api [--alerts 1000000] [--clues 100000] [--clients 20] [--requests 50]
        [--client threads|wrk|both] [--duration 15] [--workers N]

Two kinds of client: `threads` (the reference: 20 httpx clients on threads of the bench process,
`--requests` calls each) and `wrk` (20 connections from one wrk thread, `--duration` seconds per
request kind; C, so it leaves the cores to the server: `apt-get install wrk`). `both` runs each
request kind with threads, then with wrk.

Uses OFFSITE_DATABASE_URL's server when set, else an embedded server in a temp folder; works in a
database of its own that it drops afterwards. The rows are seeded with generate_series, not the
pipeline; the API runs as `offsite up --api --api-workers N` (default: one worker per core), and
"API CPU" is what the hub's process and its workers used per request.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from rich.console import Console

from api.auth import create_token
from bench.scratch import scratch_database
from bench.serving import offsite_up
from hub.store.db import open_database
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
"""


Figures = tuple[float, float, float, float, int]  # p50, p95, p99 in ms; requests per second; requests


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process and its children have used so far (Linux)."""
    used = 0
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split() if entry.name.isdigit() else []
        except OSError:  # gone meanwhile
            continue
        if fields and (int(entry.name) == pid or int(fields[1]) == pid):
            used += int(fields[11]) + int(fields[12])
    return used / os.sysconf("SC_CLK_TCK")


def measure(url: str, token: str, path: str, clients: int, requests: int) -> Figures:
    """Latencies and throughput of `clients` httpx clients on threads calling `path`."""

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
    return cuts[49], cuts[94], cuts[98], rate, len(samples) + clients  # the warm-up calls too


# wrk's Lua hooks: the token comes from the environment; done() prints one JSON line (latencies in µs).
WRK_SCRIPT = """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
done = function(summary, latency, requests)
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d,'
    .. ' "p50_us": %d, "p95_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def measure_wrk(url: str, token: str, path: str, clients: int, duration: int, script: Path) -> Figures:
    """Latencies and throughput of `clients` wrk connections (one wrk thread) calling `path`."""
    command = ["wrk", "-t1", f"-c{clients}", f"-d{duration}s", "--timeout", "30s", "-s", str(script)]
    done = subprocess.run(
        [*command, f"{url}{path}"],
        env={**os.environ, "BENCH_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}{done.stderr}")
    result = json.loads(line.removeprefix("BENCH "))
    if result["non2xx"] or result["socket_errors"]:
        raise RuntimeError(f"wrk on {path}: {result}")
    rate = result["requests"] / (result["duration_us"] / 1e6)
    p50, p95, p99 = (result[f"{p}_us"] / 1000 for p in ("p50", "p95", "p99"))
    return p50, p95, p99, rate, result["requests"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--clues", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="per thread (--client threads)")
    parser.add_argument("--client", choices=["threads", "wrk", "both"], default="both")
    parser.add_argument("--duration", type=int, default=15, help="seconds per request kind (wrk)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="API processes")
    args = parser.parse_args()
    console = Console(soft_wrap=True)
    clients = ["threads", "wrk"] if args.client == "both" else [args.client]
    if "wrk" in clients and shutil.which("wrk") is None:
        parser.exit(2, "--client wrk needs wrk on PATH: apt-get install wrk (or use --client threads)\n")
    load = os.getloadavg()
    console.print(
        f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores;"
        f" {args.workers} API worker(s)"
    )
    with tempfile.TemporaryDirectory() as tmp, scratch_database("offsite_bench_api", Path(tmp)) as dsn:
        db = open_database(dsn, Path(tmp), pool_size=1)
        stack = ExitStack()
        try:
            _, backend = upgrade(db)
            start = time.perf_counter()
            with db.transaction() as conn:
                params = {"alerts": args.alerts, "clues": args.clues, "departments": DEPARTMENTS}
                # client-side binding: the seed is several statements in one go
                psycopg.ClientCursor(conn).execute(SEED.encode(), params)
            # Vacuumed and analysed as a live database is, so that autovacuum does not wake up on
            # the fresh rows in the middle of a measurement.
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            console.print(f"{backend.describe()}; seeded in {time.perf_counter() - start:.0f} s")
            up = stack.enter_context(offsite_up(dsn, Path(tmp), args.workers))
            url = up.url
            with db.transaction() as conn:  # once the hub has loaded the deployment tokens are checked by
                now = datetime.now(UTC)
                operator = create_token(conn, "bench", "operator", now)
                market = create_token(conn, "bench-market", "department", now, department="market")
            cases = [
                ("alerts, no filter", operator, "/alerts?limit=50"),
                ("alerts, site", operator, "/alerts?limit=50&site=lintong-hall"),
                ("alerts, status + severity", operator, "/alerts?limit=50&status=open&severity=critical"),
                ("alerts, time range", operator, "/alerts?limit=50&since=2020-01-01T00:00:00Z"),
                ("clues of one department", market, "/clues?limit=50"),
            ]
            script = Path(tmp) / "bench.lua"
            script.write_text(WRK_SCRIPT, encoding="utf-8")
            for name, token, path in cases:
                for client in clients:
                    cpu_before = cpu_seconds(up.pid)
                    if client == "threads":
                        figures = measure(url, token, path, args.clients, args.requests)
                    else:
                        figures = measure_wrk(url, token, path, args.clients, args.duration, script)
                    p50, p95, p99, rate, served = figures
                    cpu = (cpu_seconds(up.pid) - cpu_before) / served * 1000
                    console.print(
                        f"{name:28} {client:7} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms"
                        f"  p99 {p99:6.1f} ms  {rate:6.0f} req/s  API CPU {cpu:.2f} ms/request"
                    )
        finally:
            stack.close()
            db.close()


if __name__ == "__main__":
    main()

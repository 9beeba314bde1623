"""CPU per signed webhook POST to a local receiver, per HTTP client: what chose the delivery's.

    .venv/bin/python -m bench.http_clients [--posts 3000] [--rounds 3]

Each client POSTs `--posts` changes of the size the outbox sends (a record's JSON, about 1 kB,
signed as hub/delivery.py signs it) over one kept-alive connection to a receiver answering 204
in a process of its own; the clients take turns, `--rounds` times (hub/delivery.py sends as
"urllib3 pool" does: a connection pool per destination). Figures: CPU time of this process per
POST (what delivery takes from the cores the intake runs on) and wall time per POST, the median
over rounds; the reference is the standard library's http.client on the same socket in the same
round (the least a Python client can do).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import urllib3
from rich.console import Console
from rich.table import Table

from bench.pipeline import receiver
from hub.delivery import sign

SECRET = b"bench-secret-0123456789"
BODY = json.dumps({"id": "msg_1", "kind": "record", "change": "insert", "data": {"text": "x" * 900}}).encode()


def _headers(i: int) -> dict[str, str]:
    message_id = f"msg_{i}"
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": "1764633600",
        "webhook-signature": sign(SECRET, message_id, 1764633600, BODY),
        "idempotency-key": message_id,
    }


def _clients(url: str) -> dict[str, Callable[[int], None]]:
    hx = httpx.Client()
    manager = urllib3.PoolManager(maxsize=4, retries=False)
    pool = urllib3.connection_from_url(url, maxsize=1, timeout=urllib3.Timeout(5, 5))
    parts = urlsplit(url)
    plain = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)

    def with_httpx(i: int) -> None:
        assert hx.post(url, content=BODY, headers=_headers(i), timeout=5).is_success

    def with_pool_manager(i: int) -> None:
        answer = manager.request("POST", url, body=BODY, headers=_headers(i), timeout=urllib3.Timeout(5, 5))
        assert answer.status == 204

    def with_pool(i: int) -> None:  # as hub/delivery.py sends
        headers = _headers(i)
        answer = pool.urlopen("POST", parts.path, body=BODY, headers=headers, retries=False, redirect=False)
        assert answer.status == 204

    def with_http_client(i: int) -> None:
        plain.request("POST", parts.path, BODY, _headers(i))
        answer = plain.getresponse()
        answer.read()
        assert answer.status == 204

    return {
        "httpx": with_httpx,
        "urllib3 PoolManager": with_pool_manager,
        "urllib3 pool (delivery)": with_pool,
        "http.client": with_http_client,
    }


def _measure(post: Callable[[int], None], n: int) -> tuple[float, float]:
    """CPU and wall microseconds per POST."""
    for i in range(100):  # the connection, and the first calls' imports
        post(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(n):
        post(i)
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load = [os.getloadavg()[0]]
    with receiver() as url:
        clients = _clients(url)
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, post in clients.items():
                figures[name].append(_measure(post, args.posts))
            load.append(os.getloadavg()[0])
    table = Table(title=f"a signed POST of {len(BODY)} bytes, kept alive (median of {args.rounds} rounds)")
    for column in ("client", "CPU us/POST", "wall us/POST", "CPU ratio to http.client"):
        table.add_column(column, justify="right")
    reference = [cpu for cpu, _ in figures["http.client"]]
    for name, rounds in figures.items():
        ratio = statistics.median(cpu / ref for (cpu, _), ref in zip(rounds, reference, strict=True))
        cpu = statistics.median(c for c, _ in rounds)
        wall = statistics.median(w for _, w in rounds)
        table.add_row(name, f"{cpu:.0f}", f"{wall:.0f}", f"{ratio:.2f}")
    Console(width=120).print(table)
    cores = os.cpu_count()
    print(f"load average (1 min) during the run: {min(load):.1f} to {max(load):.1f} on {cores} cores")


if __name__ == "__main__":
    main()

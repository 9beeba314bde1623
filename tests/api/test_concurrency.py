"""Many callers at once: every request is answered, none waits on another for a connection."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.conftest import Api


def test_far_more_concurrent_requests_than_connections_are_all_answered(api: Api) -> None:
    """120 callers at once against a pool of 8 connections: all answered, and soon.

    (Each request's database work holds one thread and one connection together; were the token
    lookup, the transaction and the handler on separate threads, requests holding connections
    could wait for threads held by requests waiting for connections.)
    """
    callers = 120
    assert api.hub.db.pool.max_size < callers
    start = time.monotonic()

    def call(n: int) -> int:
        who = ("operator", "market", "admin")[n % 3]
        path = "/alerts?limit=5" if n % 2 else "/clues?limit=5"
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.tokens[who]}"}) as c:
            return c.get(path, timeout=30).status_code

    with ThreadPoolExecutor(callers) as pool:
        statuses = list(pool.map(call, range(callers)))
    assert statuses == [200] * callers
    assert time.monotonic() - start < 15

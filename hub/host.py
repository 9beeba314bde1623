"""This machine, for the processes the hub starts and for tests and benchmarks: a free TCP port,
waiting for a condition, the children of a process."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on now (another program may take it before us)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; whether it held."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def wait_for(predicate: Callable[[], object], timeout: float, step: float = 0.05, failure: str = "") -> float:
    """Poll until `predicate()` is true; the seconds it took, or TimeoutError saying `failure` (or
    the timeout) when it is not true within `timeout` seconds."""
    start = time.monotonic()
    if not wait_until(lambda: bool(predicate()), timeout, step):
        raise TimeoutError(failure or f"condition not met within {timeout} s")
    return time.monotonic() - start


def children_of(pid: int) -> set[int]:
    """The processes whose parent is `pid` (Linux: read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.add(int(entry.name))
    return found

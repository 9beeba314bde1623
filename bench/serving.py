"""`offsite up --api` in a process of its own on a benchmark's database, as the benchmarks serve it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hub.host import free_port

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Served:
    url: str
    pid: int  # of `offsite up`, whose CPU a benchmark may count


@contextmanager
def offsite_up(dsn: str, folder: Path, workers: int = 1) -> Iterator[Served]:
    """The demo deployment served by `offsite up --api` with `workers` API processes on the
    database `dsn`, upkeep out of the way; yields once every worker serves."""
    port = free_port()
    env = {**os.environ, "OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": str(folder)}
    command = [sys.executable, "-m", "offsite.cli", "up", "-c", str(REPO / "configs" / "demo.yaml")]
    options = ["--api", f"127.0.0.1:{port}", "--api-workers", str(workers), "--upkeep-every", "86400"]
    proc = subprocess.Popen([*command, *options], env=env, cwd=folder, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the hub says so once every worker serves
            if line.startswith("offsite hub up"):
                break
        else:
            raise RuntimeError(f"offsite up ended with code {proc.wait()} before serving")
        yield Served(f"http://127.0.0.1:{port}", proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""The outbox's delivery in processes of its own for `offsite up` (issue 14).

Delivery POSTs every change to every destination; in the hub's process that work shared the
interpreter lock with the intake and slowed it by a third (BENCHMARKS.md). `offsite up` starts
`OFFSITE_DELIVERY_WORKERS` processes (``python -m offsite.delivering``, default 1) that run
`hub.delivery.Deliverer` on the hub's database. Several are safe, here or on other hosts: the
fan-out takes an advisory lock and each delivery is claimed with FOR UPDATE SKIP LOCKED.

A worker that dies is replaced (waiting longer after each quick death in a row). Stopping the
hub asks each worker to finish its round (SIGTERM), and kills the ones that do not in time. When
the hub's process ends however it ends (`kill -9` included), its end of the worker's stdin closes
and the worker exits at once, mid-round: the round's transaction is rolled back and what it had
sent goes again under the same idempotency keys, as after a `kill -9` of the worker itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from offsite.workers import MAX_RESTART_DELAY, Slot, WorkerProcesses

log = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0  # a round may wait on a slow receiver up to its timeout
SHORT_LIFE = 10.0  # a worker that dies sooner than this failed to run, rather than failed once
POOL_SIZE = 2  # a round's transaction, and pruning beside it
APPLICATION_NAME = "offsite-delivery"


class DeliverySettings(BaseSettings):
    """How many delivery processes `offsite up` runs (``OFFSITE_DELIVERY_WORKERS``)."""

    model_config = SettingsConfigDict(env_prefix="OFFSITE_DELIVERY_", extra="ignore")

    workers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Processes delivering the outbox under `offsite up`; one keeps up with the intake"
        " on a small hub, more share the work (each claims its changes)",
    )


class DeliveryWorkers(WorkerProcesses):
    """`count` delivery processes for the deployment file `config_text` on the database `dsn`,
    replaced when one dies. Their secrets come from this process's environment."""

    stop_timeout = STOP_TIMEOUT

    def __init__(self, config_text: str, dsn: str, count: int) -> None:
        super().__init__(count, "offsite-delivery-", config_text, "offsite-delivery-workers")
        # Named in pg_stat_activity (libpq reads PGAPPNAME), apart from the hub's connections.
        self.env = {**os.environ, "OFFSITE_DATABASE_URL": dsn, "PGAPPNAME": APPLICATION_NAME}

    def start(self) -> None:
        """Start every worker; they deliver from their first round on."""
        for slot in self.slots:
            self._launch(slot)
        self.monitor.start()

    def _launch(self, slot: Slot) -> None:
        slot.process = subprocess.Popen(
            [sys.executable, "-m", "offsite.delivering", str(self.config)],
            env=self.env,
            stdin=subprocess.PIPE,  # closed when the hub's process ends, however it ends
            start_new_session=True,  # Ctrl-C reaches the hub, which stops the workers in order
        )
        slot.started_at = time.monotonic()

    def _watch(self) -> None:
        """Replace workers that died: at once, unless one died young (within SHORT_LIFE of its
        start) twice or more in a row, which waits longer each time."""
        while not self.stopping.wait(0.5):
            for slot in self.slots:
                process = slot.process
                if process is None or process.poll() is None:
                    continue
                now = time.monotonic()
                if not slot.retry_at:  # found dead just now
                    if process.stdin is not None:
                        process.stdin.close()
                    lived = now - slot.started_at
                    slot.failures = slot.failures + 1 if lived < SHORT_LIFE else 0
                    delay = min(MAX_RESTART_DELAY, 2.0**slot.failures) if slot.failures > 1 else 0.0
                    slot.retry_at = now + delay
                    log.warning(
                        "delivery worker %d (pid %d) exited with code %s after %.0f s; another in %.0f s",
                        slot.number,
                        process.pid,
                        process.returncode,
                        lived,
                        delay,
                    )
                if now >= slot.retry_at and not self.stopping.is_set():
                    slot.retry_at = 0.0
                    self._launch(slot)


def _exit_with_hub() -> None:
    # Unbuffered reads: a thread blocked in sys.stdin's buffer aborts the interpreter's exit.
    while os.read(sys.stdin.fileno(), 4096):  # b"" at EOF: the hub's process closed it, or died
        pass
    os._exit(1)  # at once, without ending the round: its transaction rolls back


def _deliver(config_path: Path) -> int:
    """One worker: deliver on the hub's database until SIGTERM or the hub's end."""
    from hub.config import Settings
    from hub.config.loader import load_config
    from hub.delivery import Deliverer, destinations
    from hub.pipeline import utc_now
    from hub.store.db import open_database

    threading.Thread(target=_exit_with_hub, name="hub-watch", daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        loaded = load_config(config_path)
        targets = destinations(loaded.deployment)
        database_url = Settings().database_url
        if database_url is None:
            raise ValueError("OFFSITE_DATABASE_URL is not set (the hub sets it for its workers)")
        db = open_database(database_url, Path(), pool_size=POOL_SIZE)
    except Exception as exc:
        log.error("delivery worker cannot start: %s", exc)
        return 1
    try:
        Deliverer(db, targets, utc_now).run(stop)
    finally:
        db.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One outbox delivery process (started by `offsite up`).")
    parser.add_argument("config", type=Path, help="the deployment file the hub runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(_deliver(args.config))


if __name__ == "__main__":
    main()

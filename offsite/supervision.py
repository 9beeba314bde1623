"""Supervision of the API's worker processes for `offsite up --api-workers N`.

The hub's process starts N workers (``python -m api.serving``, one each), waits until every one
reports that it serves, replaces a worker that dies (waiting longer after each failure in a row)
and stops them all in order. Serving itself is ``api.serving``'s.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import time
from typing import IO, TYPE_CHECKING

from api.serving import READY, START_TIMEOUT, STOP_TIMEOUT, CannotServe, check_port_free, parse_address
from offsite.workers import MAX_RESTART_DELAY, Slot, WorkerProcesses

if TYPE_CHECKING:
    from hub.runtime import Hub

log = logging.getLogger(__name__)


class ApiWorkers(WorkerProcesses):
    """The API in `count` processes of their own on one port, replaced when one dies.

    Each worker joins the hub's database (its own pool of the configured size) and counts its
    requests into a shared folder, so that ``/metrics``, whichever worker answers it, adds all of
    them up. Tokens are cached per worker and dropped in every one of them on revocation.
    """

    stop_timeout = STOP_TIMEOUT

    def __init__(self, hub: Hub, address: str, count: int) -> None:
        super().__init__(count, "offsite-api-", hub.config.text, "offsite-api-workers")
        self.host, self.port = parse_address(address)
        self.address = address
        (self.folder / "metrics").mkdir()
        self.env = {
            **os.environ,
            "OFFSITE_DATABASE_URL": hub.db.dsn,
            "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "metrics"),
        }

    def start(self) -> None:
        """Start every worker and wait until each serves; CannotServe (all stopped) if one does not."""
        try:
            check_port_free(self.host, self.port)
            launched = [(slot, self._launch(slot)) for slot in self.slots]
            for slot, ready in launched:
                self._await_ready(slot, ready, START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.monitor.start()

    def _launch(self, slot: Slot) -> IO[bytes]:
        """Start the worker for `slot`; the pipe it reports its start-up on."""
        read_fd, write_fd = os.pipe()
        command = [sys.executable, "-m", "api.serving", self.address, str(self.config), str(write_fd)]
        try:
            slot.process = subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.PIPE,  # closed when the hub's process ends, however it ends
                pass_fds=(write_fd,),
                start_new_session=True,  # Ctrl-C reaches the hub, which stops the workers in order
            )
        finally:
            os.close(write_fd)
        return os.fdopen(read_fd, "rb")

    def _await_ready(self, slot: Slot, ready: IO[bytes], timeout: float) -> None:
        assert slot.process is not None
        said = ""
        deadline = time.monotonic() + timeout
        with ready:
            while not said and time.monotonic() < deadline and not self.stopping.is_set():
                if select.select([ready], [], [], 0.2)[0]:
                    said = ready.readline().decode("utf-8", "replace").strip() or "exited"
        if said == READY:
            return
        if said == "exited" or not said:
            try:
                said = f"exited with code {slot.process.wait(timeout=0 if not said else 5)}"
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait()
                late = f"not serving after {timeout:.0f} s"
                said = "stopped while starting" if self.stopping.is_set() else late
        raise CannotServe(f"API worker {slot.number} on {self.address}: {said}")

    def _watch(self) -> None:
        """Replace workers that died, waiting longer after each failure in a row."""
        while not self.stopping.wait(0.5):
            for slot in self.slots:
                if self.stopping.is_set():
                    return
                process = slot.process
                if process is None or process.poll() is None or time.monotonic() < slot.retry_at:
                    continue
                log.warning(
                    "API worker %d (pid %d) exited with code %s; starting another",
                    slot.number,
                    process.pid,
                    process.returncode,
                )
                if process.stdin is not None:
                    process.stdin.close()
                try:
                    self._await_ready(slot, self._launch(slot), START_TIMEOUT)
                    slot.failures = 0
                except (CannotServe, OSError) as exc:
                    if self.stopping.is_set():
                        return
                    slot.failures += 1
                    delay = min(MAX_RESTART_DELAY, 2.0**slot.failures)
                    slot.retry_at = time.monotonic() + delay
                    log.error("%s; trying again in %.0f s", exc, delay)

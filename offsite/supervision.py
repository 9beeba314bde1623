"""Supervision of the API's worker processes for `offsite up --api-workers N`.

The hub's process starts N workers (``python -m api.serving``, one each), waits until every one
reports that it serves, replaces a worker that dies (waiting longer after each failure in a row)
and stops them all in order. Serving itself is ``api.serving``'s.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from api.serving import READY, START_TIMEOUT, STOP_TIMEOUT, CannotServe, check_port_free, parse_address

if TYPE_CHECKING:
    from hub.runtime import Hub

log = logging.getLogger(__name__)

MAX_RESTART_DELAY = 30.0


@dataclass
class _Slot:
    """One worker place: the process now filling it and how often it failed in a row."""

    number: int
    process: subprocess.Popen[bytes] | None = None
    failures: int = 0
    retry_at: float = 0.0


class ApiWorkers:
    """The API in `count` processes of their own on one port, replaced when one dies.

    Each worker joins the hub's database (its own pool of the configured size) and counts its
    requests into a shared folder, so that ``/metrics``, whichever worker answers it, adds all of
    them up. Tokens are cached per worker and dropped in every one of them on revocation.
    """

    def __init__(self, hub: Hub, address: str, count: int) -> None:
        self.host, self.port = parse_address(address)
        self.address = address
        self.slots = [_Slot(n) for n in range(count)]
        self.folder = Path(tempfile.mkdtemp(prefix="offsite-api-"))
        (self.folder / "metrics").mkdir()
        self.config = self.folder / "deployment.yaml"
        self.config.write_text(hub.config.text, encoding="utf-8")
        self.env = {
            **os.environ,
            "OFFSITE_DATABASE_URL": hub.db.dsn,
            "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "metrics"),
        }
        self.stopping = threading.Event()
        self.monitor = threading.Thread(target=self._watch, name="offsite-api-workers", daemon=True)

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

    def stop(self) -> None:
        """Ask every worker to finish its requests and stop; kill those that do not in time."""
        self.stopping.set()
        if self.monitor.is_alive():
            self.monitor.join()
        running = [s.process for s in self.slots if s.process is not None and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for slot in self.slots:
            if slot.process is not None and slot.process.stdin is not None:
                slot.process.stdin.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _launch(self, slot: _Slot) -> IO[bytes]:
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

    def _await_ready(self, slot: _Slot, ready: IO[bytes], timeout: float) -> None:
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

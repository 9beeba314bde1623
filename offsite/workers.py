"""What the hub's worker processes share (`offsite up`'s API workers and delivery workers).

Each worker fills a numbered slot; the hub writes the deployment file it runs into a folder of
the workers' own, watches them from a thread and, on stop, asks each to finish (SIGTERM), kills
those that do not in time, and only then closes their stdin (a worker exits at once when its
stdin closes: the hub's process ended, however it ended).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MAX_RESTART_DELAY = 30.0  # the longest wait before a worker that keeps failing is started again


@dataclass
class Slot:
    """One worker place: the process now filling it and how often it failed in a row."""

    number: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    retry_at: float = 0.0


class WorkerProcesses:
    """`count` slots, a folder holding `config_text` as ``deployment.yaml``, and the thread that
    runs `_watch` once started. Subclasses start a slot's process and replace dead ones."""

    stop_timeout = 30.0

    def __init__(self, count: int, prefix: str, config_text: str, name: str) -> None:
        self.slots = [Slot(n) for n in range(count)]
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self.config = self.folder / "deployment.yaml"
        self.config.write_text(config_text, encoding="utf-8")
        self.stopping = threading.Event()
        self.monitor = threading.Thread(target=self._watch, name=name, daemon=True)

    def _watch(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Ask every worker to finish and stop; kill those that do not within `stop_timeout`."""
        self.stopping.set()
        if self.monitor.is_alive():
            self.monitor.join()
        running = [s.process for s in self.slots if s.process is not None and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for slot in self.slots:  # only now: a worker whose stdin closes exits mid-work
            if slot.process is not None and slot.process.stdin is not None:
                slot.process.stdin.close()
        shutil.rmtree(self.folder, ignore_errors=True)

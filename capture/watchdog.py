"""The cameras of a deployment: one worker each, watched by one watchdog thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from capture.worker import CameraWorker, StatusCallback, WorkerSettings
from hub.config.devices import Camera

log = logging.getLogger(__name__)


class Watchdog:
    """Calls `check()` on each worker every `period` seconds, from a thread of its own, then
    `on_tick` (what waits on time, such as `capture.alarms.OfflineAlarms.due`)."""

    def __init__(
        self,
        workers: Iterable[CameraWorker],
        period: float = 0.25,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.workers = list(workers)
        self.period = period
        self.on_tick = on_tick
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self.period):
            for worker in self.workers:
                worker.check()
            if self.on_tick is not None:
                try:
                    self.on_tick()
                except Exception:  # the watchdog must outlive whatever the tick's receiver does
                    log.exception("camera watchdog: tick failed")


class CameraCapture:
    """Starts a worker per enabled camera and the watchdog; `stop()` ends them all."""

    def __init__(
        self,
        cameras: Iterable[Camera],
        on_status: StatusCallback | None = None,
        settings: WorkerSettings | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.workers = {c.id: CameraWorker(c, on_status, settings) for c in cameras if c.enabled}
        self.watchdog = Watchdog(self.workers.values(), on_tick=on_tick)

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()
        self.watchdog.start()

    def stop(self) -> None:
        self.watchdog.stop()
        for worker in self.workers.values():
            worker.stop()

    def __enter__(self) -> CameraCapture:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

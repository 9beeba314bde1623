"""Detector threads shared by every camera of a process, batching the frames they submit.

    with DetectorWorker(detector, max_batch=8, max_wait=0.01, threads=2) as worker:
        detections = worker.submit(frame.image).result()

Each camera worker submits its frame and waits for its own future; a free detector thread takes
what is queued, up to `max_batch` images, waiting at most `max_wait` seconds after the oldest
one arrived for others to join, and runs the model once for all of them (Frigate's shared
detector process, with batching). Several threads run the model at once (onnxruntime releases
the GIL while it runs), so one slow detection does not leave the other cores idle. The queue
holds at most one frame per waiting camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType

from capture.frames import Image
from vision.detections import Detections
from vision.detectors.base import Detector, check_images

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """What a `DetectorWorker` has done since it was made."""

    frames: int  # images detected, successfully or not
    batches: int  # calls to `detect`
    errors: int  # calls to `detect` that raised
    last_batch_ms: float  # duration of the latest `detect` call

    @property
    def mean_batch(self) -> float:
        return self.frames / self.batches if self.batches else 0.0


@dataclass(frozen=True, slots=True)
class _Job:
    image: Image
    future: Future[Detections]
    submitted: float  # time.monotonic()


class DetectorWorker:
    """`threads` threads that run `detector` on batches of the images submitted from any thread."""

    def __init__(
        self,
        detector: Detector,
        *,
        max_batch: int = 8,
        max_wait: float = 0.01,
        name: str = "detector",
        threads: int = 1,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be 0 or more seconds, not {max_wait}")
        self.detector, self.max_batch, self.max_wait, self.name = detector, max_batch, max_wait, name
        self.threads = threads
        self._jobs: deque[_Job] = deque()
        self._changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._frames = self._batches = self._errors = 0
        self._last_batch_ms = 0.0

    def start(self) -> DetectorWorker:
        """Start the threads; returns the worker."""
        with self._changed:
            if self._threads:
                raise RuntimeError(f"detector worker {self.name!r} was already started")
            names = [self.name] if self.threads == 1 else [f"{self.name}-{i}" for i in range(self.threads)]
            self._threads = [threading.Thread(target=self._run, name=n, daemon=True) for n in names]
            for thread in self._threads:
                thread.start()
        what = self.detector.describe()
        log.info("detector worker %r started, %d thread(s): %s", self.name, self.threads, what)
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Finish the batch running now, fail the images still queued, and end the thread."""
        with self._changed:
            self._stopping = True
            pending = list(self._jobs)
            self._jobs.clear()
            self._changed.notify_all()
        for job in pending:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(
                    RuntimeError(f"detector worker {self.name!r} stopped before this image was detected")
                )
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def __enter__(self) -> DetectorWorker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def submit(self, image: Image) -> Future[Detections]:
        """Queue `image` (H x W x 3 uint8 BGR); the future gives its detections or the error."""
        check_images([image])  # a bad image fails its own caller, never the batch it would join
        future: Future[Detections] = Future()
        with self._changed:
            if not self._threads or self._stopping:
                state = "stopped" if self._stopping else "not started (call start())"
                raise RuntimeError(f"detector worker {self.name!r} is {state}")
            self._jobs.append(_Job(image, future, time.monotonic()))
            self._changed.notify_all()
        return future

    @property
    def stats(self) -> WorkerStats:
        with self._changed:
            return WorkerStats(self._frames, self._batches, self._errors, self._last_batch_ms)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._detect(batch)

    def _next_batch(self) -> list[_Job] | None:
        """The next jobs to run together, once `max_batch` are queued or the oldest waited enough."""
        with self._changed:
            while not self._stopping:
                if self._jobs:
                    deadline = self._jobs[0].submitted + self.max_wait
                    left = deadline - time.monotonic()
                    if len(self._jobs) >= self.max_batch or left <= 0:
                        count = min(self.max_batch, len(self._jobs))
                        return [self._jobs.popleft() for _ in range(count)]
                    self._changed.wait(left)
                else:
                    self._changed.wait()
            return None

    def _detect(self, batch: list[_Job]) -> None:
        jobs = [job for job in batch if job.future.set_running_or_notify_cancel()]  # skip cancelled
        if not jobs:
            return
        started = time.perf_counter()
        try:
            found = self.detector.detect([job.image for job in jobs])
            if len(found) != len(jobs):
                what = self.detector.describe()
                raise RuntimeError(f"detector {what} returned {len(found)} results for {len(jobs)} images")
        except Exception as exc:
            log.exception("detector worker %r: a batch of %d images failed", self.name, len(jobs))
            self._count(len(jobs), started, failed=True)
            for job in jobs:
                job.future.set_exception(exc)
            return
        self._count(len(jobs), started, failed=False)
        for job, detections in zip(jobs, found, strict=True):
            job.future.set_result(detections)

    def _count(self, frames: int, started: float, *, failed: bool) -> None:
        with self._changed:
            self._frames += frames
            self._batches += 1
            self._errors += failed
            self._last_batch_ms = (time.perf_counter() - started) * 1000

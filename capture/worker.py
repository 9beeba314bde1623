"""One capture worker per camera: connect, decode, sample, hand the newest frame on, reconnect.

The decode loop runs in the worker's thread. A watchdog (see `capture.watchdog`) calls `check()`
periodically: when no frame came for `stale_after` seconds it aborts the connection, and when the
thread stays stuck inside PyAV after that, it abandons the thread and starts a fresh one, so a
dead peer never hangs the camera, whatever PyAV's own timeouts do.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import av
from av.container import InputContainer

from capture.clip import Clip, PacketRing
from capture.frames import Frame, FrameQueue, Image
from capture.health import CameraStatus, FrozenDetector, StatusChange
from capture.sources import Source, SourceError, open_decoder
from hub.backoff import jittered_delay
from hub.config.devices import Camera

log = logging.getLogger(__name__)

StatusCallback = Callable[[StatusChange], None]


@dataclass(frozen=True)
class WorkerSettings:
    """Timings shared by the workers (the per-camera ones are in the Camera config)."""

    open_timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 5.0
    offline_after: float = 60.0  # reconnecting this long: offline
    clip_seconds: float = 15.0  # encoded packets kept for clips
    queue_size: int = 2


class Backoff:
    """Exponential delays with jitter (`hub.backoff.jittered_delay`), counting the attempts."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial, self.maximum = initial, maximum
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        delay = jittered_delay(self.initial, self.maximum, self.attempt, self._rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class WorkerStats:
    connects: int = 0
    frames_decoded: int = 0
    frames_published: int = 0
    aborted_reads: int = 0  # connections the watchdog ended for lack of frames
    abandoned_threads: int = 0  # threads left stuck in PyAV and replaced
    decoder: str = ""
    last_error: str = ""


class CameraWorker:
    """Frames of one camera into a `FrameQueue`; status changes to `on_status`."""

    def __init__(
        self,
        camera: Camera,
        on_status: StatusCallback | None = None,
        settings: WorkerSettings | None = None,
    ) -> None:
        self.camera = camera
        self.source = Source.from_camera(camera)
        self.settings = settings or WorkerSettings()
        self.queue = FrameQueue(self.settings.queue_size)
        self.ring = PacketRing(self.settings.clip_seconds)
        self.stats = WorkerStats()
        self.status = CameraStatus.CONNECTING
        self.ended = False  # a file source played to its end (and does not loop): no more frames
        self._on_status = on_status
        self._frozen = FrozenDetector(camera.frozen_after)
        self._backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._token = 0  # which thread is the worker's; an abandoned one exits when it wakes
        self._abort = False  # end the current connection
        self._abort_at = 0.0
        self._busy_since = time.monotonic()  # start of the current open, or the last frame
        self._busy: str | None = None  # "open" or "read" while blocked in PyAV
        self._down_since = time.monotonic()
        self._next_due = 0.0
        self._index = 0
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._spawn()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped.set()
        with self._lock:
            self._abort = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self.ring.close()

    def _spawn(self) -> None:
        self._token += 1
        self._abort = False
        self._thread = threading.Thread(
            target=self._run, args=(self._token,), name=f"camera-{self.camera.id}", daemon=True
        )
        self._thread.start()

    def _current(self, token: int) -> bool:
        return token == self._token and not self._stopped.is_set()

    # -- the worker thread ---------------------------------------------------------------------

    def _run(self, token: int) -> None:
        while self._current(token):
            delay: float | None = None
            try:
                ended = self._connection(token)
                if ended and self._current(token):
                    self._set_status(CameraStatus.OFFLINE, "end of file", token)
                    self.ended = True
                    return
            except SourceError as exc:
                self._failed(str(exc), CameraStatus.OFFLINE, token)
                delay = self.settings.backoff_max
            except (av.FFmpegError, OSError) as exc:
                self._failed(f"{type(exc).__name__}: {exc}", CameraStatus.RECONNECTING, token)
            except Exception as exc:  # never let one camera's surprise kill its worker
                log.exception("camera %s: unexpected error", self.camera.id)
                self._failed(f"{type(exc).__name__}: {exc}", CameraStatus.RECONNECTING, token)
            if not self._current(token):
                return
            self._stopped.wait(delay if delay is not None else self._backoff.next())

    def _failed(self, error: str, status: CameraStatus, token: int) -> None:
        if not self._current(token):
            return
        self.stats.last_error = error
        if status == CameraStatus.RECONNECTING and self.status == CameraStatus.OFFLINE:
            return  # stays offline until a frame comes
        self._set_status(status, error, token)

    def _connection(self, token: int) -> bool:
        """One connection, until it breaks (raises), is aborted (False) or a file ends (True)."""
        with self._lock:
            if not self._current(token):
                return False
            self._abort = False
            self._busy, self._busy_since = "open", time.monotonic()
        container = self.source.open(self.settings.open_timeout, self.camera.stale_after)
        try:
            with self._lock:
                self._busy, self._busy_since = "read", time.monotonic()
                if not self._current(token):
                    return False
                self.stats.connects += 1
            return self._read(container, token)
        finally:
            with self._lock:
                if token == self._token:
                    self._busy = None
                    self.ring.end()
            container.close()

    def _read(self, container: InputContainer, token: int) -> bool:
        stream = container.streams.video[0]
        decoder, self.stats.decoder = open_decoder(stream, self.camera.keyframes_only, self.source.hwaccel)
        self.ring.begin(stream)
        while True:
            paced_from: tuple[float, float] | None = None  # (monotonic start, first pts time)
            for packet in container.demux(stream):
                if self._abort or not self._current(token):
                    return False
                self.ring.add(packet, time.time())
                for frame in decoder.decode(packet):
                    if not self.source.live and frame.time is not None:
                        if paced_from is None:
                            paced_from = (time.monotonic(), frame.time)
                        wait = paced_from[0] + frame.time - paced_from[1] - time.monotonic()
                        if wait > 0 and self._stopped.wait(wait):
                            return False
                    self._on_frame(frame, token)
            if self.source.live or not self.source.loop:
                return not self.source.live
            container.seek(0)
            decoder.flush_buffers()
            self.ring.begin(stream)

    def _on_frame(self, frame: av.VideoFrame, token: int) -> None:
        now = time.monotonic()
        with self._lock:
            if token != self._token:
                return
            self._busy_since = self._down_since = now
            self.stats.frames_decoded += 1
            if now < self._next_due:
                return
            interval = 1.0 / self.camera.fps
            self._next_due = max(self._next_due + interval, now - interval / 2)
        self._backoff.reset()
        frozen = self._frozen.update(frame, now)
        self._index += 1
        self.queue.put(
            Frame(
                camera=self.camera.id,
                index=self._index,
                time=datetime.now(UTC),
                pts_time=frame.time,
                keyframe=bool(frame.key_frame),
                image=cast(Image, frame.to_ndarray(format="bgr24")),
            )
        )
        self.stats.frames_published += 1
        if frozen:
            detail = f"the same picture for {self.camera.frozen_after:g} s"
            self._set_status(CameraStatus.FROZEN, detail, token, since=self._frozen.changed_at)
        else:
            self._set_status(CameraStatus.ONLINE, "", token)

    # -- status and watchdog -------------------------------------------------------------------

    def _set_status(
        self, status: CameraStatus, detail: str, token: int | None = None, since: float | None = None
    ) -> None:
        """Report a new status; `since` (monotonic): when its problem began, if before now."""
        with self._lock:
            if (token is not None and token != self._token) or status == self.status:
                return
            now = datetime.now(UTC)
            began = None if since is None else now - timedelta(seconds=max(0.0, time.monotonic() - since))
            change = StatusChange(self.camera.id, status, self.status, now, detail, began)
            self.status = status
        log.info("camera %s: %s -> %s %s", self.camera.id, change.previous, status, detail)
        if self._on_status is not None:
            try:
                self._on_status(change)
            except Exception:
                log.exception("camera %s: status callback failed", self.camera.id)

    def check(self, now: float | None = None) -> None:
        """The watchdog's look at this worker (monotonic `now`)."""
        now = time.monotonic() if now is None else now
        change: tuple[CameraStatus, str, int | None, float | None] | None = None
        with self._lock:
            if self._stopped.is_set():
                return
            limit = self.settings.open_timeout if self._busy == "open" else self.camera.stale_after
            if self._busy is not None and not self._abort and now - self._busy_since > limit:
                self._abort, self._abort_at = True, now
                self.stats.aborted_reads += 1
                what = "no connection" if self._busy == "open" else "no frame"
                change = (CameraStatus.RECONNECTING, f"{what} for {limit:g} s", None, None)
            elif self._abort and self._busy is not None and now - self._abort_at > self.camera.stale_after:
                self.stats.abandoned_threads += 1  # still stuck in PyAV: leave it, start afresh
                log.warning("camera %s: read stuck after abort; starting a new thread", self.camera.id)
                self._busy = None
                self._spawn()
            elif (
                self.status == CameraStatus.RECONNECTING
                and now - self._down_since > self.settings.offline_after
            ):
                detail = f"no frame for {self.settings.offline_after:g} s"
                change = (CameraStatus.OFFLINE, detail, None, self._down_since)
        if change is not None:
            self._set_status(*change)

    def save_clip(self, start: datetime, end: datetime, path: Path) -> Clip:
        """An MP4 of the camera from `start` to `end`, cut from the packet buffer."""
        return self.ring.save_clip(start, end, path)

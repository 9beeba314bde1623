"""Clips made with PyAV, a GStreamer RTSP server serving them, and a camera worker factory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from capture import CameraCapture, CameraWorker, StatusChange, WorkerSettings
from harness.rtsp import RtspServer, make_clip, start_rtsp_server
from hub.config.devices import Camera

# Short timings, so that outages are seen and healed within a test's patience.
FAST = WorkerSettings(open_timeout=3.0, backoff_initial=0.1, backoff_max=1.0, offline_after=4.0)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "moving": make_clip(folder / "moving.mp4", seconds=30, gop=10),
        "still": make_clip(folder / "still.mp4", seconds=15, still=True),
        "short": make_clip(folder / "short.mp4", seconds=2, gop=5),
    }


@pytest.fixture(scope="session")
def shared_server(clips: dict[str, Path]) -> Iterator[RtspServer]:
    """One server for the tests that do not kill it."""
    server = start_rtsp_server({"moving": clips["moving"], "still": clips["still"]})
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def own_server(clips: dict[str, Path]) -> Iterator[RtspServer]:
    """A server of the test's own, to kill and restart."""
    server = start_rtsp_server({"moving": clips["moving"]})
    try:
        yield server
    finally:
        server.remove()


class Statuses:
    """Collects status changes from a worker's callback."""

    def __init__(self) -> None:
        self.changes: list[StatusChange] = []
        self._lock = threading.Lock()

    def __call__(self, change: StatusChange) -> None:
        with self._lock:
            self.changes.append(change)

    def sequence(self) -> list[str]:
        with self._lock:
            return [str(c.status) for c in self.changes]


def camera(url: str, **fields: Any) -> Camera:
    return Camera.model_validate({"id": "cam-1", "name": "test", "site": "site-1", "url": url, **fields})


RunCamera = Callable[..., tuple[CameraWorker, Statuses]]


@pytest.fixture
def run_camera() -> Iterator[RunCamera]:
    """Start a camera (worker and watchdog); all are stopped at the end of the test."""
    started: list[CameraCapture] = []

    def run(url: str, settings: WorkerSettings = FAST, **fields: Any) -> tuple[CameraWorker, Statuses]:
        statuses = Statuses()
        ingest = CameraCapture([camera(url, **fields)], statuses, settings)
        ingest.start()
        started.append(ingest)
        return ingest.workers["cam-1"], statuses

    yield run
    for ingest in started:
        ingest.stop()

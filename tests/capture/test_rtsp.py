"""Camera workers against a real GStreamer RTSP server: frames, outages, silence, freezes, leaks."""

from __future__ import annotations

import os
import threading
import time

from capture import CameraStatus
from harness.rtsp import RtspServer, silent_server
from hub.host import children_of, wait_for
from tests.capture.conftest import RunCamera


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_frames_flow_at_the_analysis_rate(shared_server: RtspServer, run_camera: RunCamera) -> None:
    worker, statuses = run_camera(shared_server.url("moving"), fps=5)
    first = worker.queue.get(timeout=10)
    assert first is not None and first.image.shape == (360, 640, 3) and first.camera == "cam-1"
    assert worker.status == CameraStatus.ONLINE
    start, published = time.monotonic(), 0
    while time.monotonic() - start < 3:
        if worker.queue.get(timeout=1) is not None:
            published += 1
    # A 10 fps stream sampled at 5 per second; every frame decoded.
    assert 12 <= published <= 17, published
    assert worker.stats.frames_decoded >= 2 * published
    assert statuses.sequence() == ["online"]
    assert worker.queue.dropped == 0


def test_a_slow_consumer_gets_the_newest_frames(shared_server: RtspServer, run_camera: RunCamera) -> None:
    worker, _ = run_camera(shared_server.url("moving"), fps=10)
    assert worker.queue.get(timeout=10) is not None
    time.sleep(2)  # analysis busy: nothing taken
    assert len(worker.queue) == 2
    assert worker.queue.dropped >= 15
    newest = worker.stats.frames_published
    frames = [worker.queue.get(timeout=1), worker.queue.get(timeout=1)]
    assert [f.index for f in frames if f is not None] == [newest - 1, newest]


def test_killed_server_reconnects_within_ten_seconds(own_server: RtspServer, run_camera: RunCamera) -> None:
    worker, statuses = run_camera(own_server.url("moving"))
    assert worker.queue.get(timeout=10) is not None
    own_server.kill()
    wait_for(lambda: worker.status == CameraStatus.RECONNECTING, 5)
    time.sleep(1.5)
    own_server.start()
    published = worker.stats.frames_published
    wait_for(lambda: worker.stats.frames_published > published + 3, 10)
    assert worker.status == CameraStatus.ONLINE
    assert statuses.sequence() == ["online", "reconnecting", "online"]


def test_a_stalled_server_is_left_by_the_watchdog(own_server: RtspServer, run_camera: RunCamera) -> None:
    worker, statuses = run_camera(own_server.url("moving"), stale_after=2)
    assert worker.queue.get(timeout=10) is not None
    own_server.pause()  # the connection stays open, nothing arrives
    took = wait_for(lambda: worker.status == CameraStatus.RECONNECTING, 6)
    assert took < 5  # stale_after, plus the second of packets buffered when the stream was probed
    own_server.resume()
    published = worker.stats.frames_published
    wait_for(lambda: worker.stats.frames_published > published + 3, 10)
    assert statuses.sequence() == ["online", "reconnecting", "online"]


def test_a_silent_server_does_not_hang_the_worker(run_camera: RunCamera) -> None:
    with silent_server() as port:
        worker, statuses = run_camera(f"rtsp://127.0.0.1:{port}/cam", stale_after=1.5)
        wait_for(lambda: worker.status == CameraStatus.OFFLINE, 10)
        assert statuses.sequence() == ["reconnecting", "offline"]
        assert worker.stats.last_error
        started = time.monotonic()
        worker.stop()
        assert time.monotonic() - started < 3


def test_a_still_picture_is_reported_frozen(shared_server: RtspServer, run_camera: RunCamera) -> None:
    worker, statuses = run_camera(shared_server.url("still"), fps=5, frozen_after=2)
    wait_for(lambda: worker.status == CameraStatus.FROZEN, 8)
    assert statuses.sequence() == ["online", "frozen"]
    assert statuses.changes[-1].detail == "the same picture for 2 s"
    assert worker.queue.get(timeout=2) is not None  # frames still flow


def test_a_moving_picture_is_not_frozen(shared_server: RtspServer, run_camera: RunCamera) -> None:
    worker, statuses = run_camera(shared_server.url("moving"), fps=5, frozen_after=1)
    wait_for(lambda: worker.stats.frames_published >= 15, 10)
    assert statuses.sequence() == ["online"]


def test_bad_urls_give_a_status_not_a_crash(run_camera: RunCamera) -> None:
    refused, _ = run_camera("rtsp://127.0.0.1:1/cam")
    unknown, _ = run_camera("rtsp://no-such-camera.invalid/cam")
    for worker in (refused, unknown):
        wait_for(lambda w=worker: w.status == CameraStatus.OFFLINE, 10)  # type: ignore[misc]
        assert worker._thread is not None and worker._thread.is_alive()  # still retrying
    assert "ConnectionRefusedError" in refused.stats.last_error


def test_twenty_outages_leak_no_thread_or_process(own_server: RtspServer, run_camera: RunCamera) -> None:
    assert own_server.process is not None
    others = children_of(os.getpid()) - {own_server.process.pid}  # the session's shared server
    python_threads, native_threads = threading.active_count(), _native_threads()
    worker, statuses = run_camera(own_server.url("moving"))
    assert worker.queue.get(timeout=10) is not None
    for _ in range(20):
        own_server.kill()
        wait_for(lambda: worker.status == CameraStatus.RECONNECTING, 5)
        own_server.start()
        published = worker.stats.frames_published
        wait_for(lambda: worker.stats.frames_published > published, 10)  # noqa: B023
    assert statuses.sequence() == ["online", "reconnecting"] * 20 + ["online"], statuses.changes
    assert worker.stats.connects == 21, worker.stats
    names = [t.name for t in threading.enumerate()]
    assert threading.active_count() == python_threads + 2, names  # the worker and the watchdog
    # and the decoder's own threads; one of a closing decoder may take a moment to end under load
    wait_for(lambda: _native_threads() <= native_threads + 2 + 4, 5)
    assert own_server.process is not None
    assert children_of(os.getpid()) == others | {own_server.process.pid}  # only the servers

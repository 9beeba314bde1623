"""Files (paced, looped, corrupt), keyframe-only decoding, decoder fallback, clips, health events."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from capture import Backoff, CameraStatus, ClipError, StatusChange, status_event
from capture.frames import Frame, FrameQueue
from harness.rtsp import RtspServer
from hub.config.rules import Offline
from hub.host import wait_for
from tests.capture.conftest import RunCamera, camera


def test_the_queue_drops_the_oldest_and_counts() -> None:
    queue = FrameQueue(maxsize=2)
    image = np.zeros((4, 4, 3), np.uint8)
    for i in range(5):
        queue.put(Frame("c", i, datetime.now(UTC), None, True, image))
    assert queue.dropped == 3
    assert [queue.get(0).index, queue.get(0).index] == [3, 4]  # type: ignore[union-attr]
    assert queue.get(timeout=0.01) is None


def test_backoff_doubles_with_jitter_up_to_its_ceiling() -> None:
    backoff = Backoff(0.5, 4.0)
    delays = [backoff.next() for _ in range(6)]
    for delay, ceiling in zip(delays, [0.5, 1, 2, 4, 4, 4], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next() <= 0.5


def test_a_file_is_paced_at_its_frame_rate(clips: dict[str, Path], run_camera: RunCamera) -> None:
    worker, _ = run_camera(str(clips["moving"]), fps=30)
    assert worker.queue.get(timeout=5) is not None
    time.sleep(2)
    assert 17 <= worker.stats.frames_decoded <= 24  # a 10 fps file, not as fast as it decodes


def test_a_looped_file_goes_on_and_an_unlooped_one_ends(
    clips: dict[str, Path], run_camera: RunCamera
) -> None:
    looped, looped_statuses = run_camera(str(clips["short"]), fps=10, loop=True)
    once, once_statuses = run_camera(f"file:{clips['short']}", fps=10)
    wait_for(lambda: once.status == CameraStatus.OFFLINE, 6)
    assert once_statuses.changes[-1].detail == "end of file"
    wait_for(lambda: looped.stats.frames_decoded > 45, 8)  # more than two passes of 20 frames
    assert looped_statuses.sequence() == ["online"]


def test_keyframes_only_decodes_one_frame_per_gop(shared_server: RtspServer, run_camera: RunCamera) -> None:
    worker, _ = run_camera(shared_server.url("moving"), fps=10, keyframes_only=True)
    frames = [worker.queue.get(timeout=5) for _ in range(4)]
    assert all(f is not None and f.keyframe for f in frames)
    time.sleep(2)
    assert worker.stats.frames_decoded <= 8  # GOP of 10 at 10 fps: about one a second


def test_a_corrupt_or_missing_file_is_offline_with_the_reason(tmp_path: Path, run_camera: RunCamera) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    broken, broken_statuses = run_camera(str(corrupt))
    missing, _ = run_camera(str(tmp_path / "missing.mp4"))
    wait_for(lambda: broken.status == CameraStatus.OFFLINE and missing.status == CameraStatus.OFFLINE, 5)
    assert "is not a readable video" in broken_statuses.changes[-1].detail
    assert missing.stats.last_error == f"no video file at {tmp_path / 'missing.mp4'}"


def test_a_missing_hardware_decoder_falls_back_to_software(
    shared_server: RtspServer, run_camera: RunCamera
) -> None:
    worker, _ = run_camera(shared_server.url("moving"), hwaccel="h264_nosuchdecoder")
    assert worker.queue.get(timeout=10) is not None
    assert worker.stats.decoder.startswith("h264 (software; h264_nosuchdecoder unavailable")


@pytest.mark.parametrize("source", ["rtsp", "file"])
def test_a_clip_from_before_to_after_is_remuxed(
    source: str, shared_server: RtspServer, clips: dict[str, Path], run_camera: RunCamera, tmp_path: Path
) -> None:
    url = shared_server.url("moving") if source == "rtsp" else str(clips["moving"])
    worker, _ = run_camera(url)
    assert worker.queue.get(timeout=10) is not None
    time.sleep(4)
    now = datetime.now(UTC)
    clip = worker.save_clip(now - timedelta(seconds=3), now - timedelta(seconds=1), tmp_path / "clip.mp4")
    # From the keyframe at or before the start (GOP 1 s) to the end.
    assert 2.0 <= clip.duration <= 3.1, clip
    assert clip.start <= now - timedelta(seconds=3) + timedelta(milliseconds=50)
    with av.open(str(clip.path)) as container:
        frames = list(container.decode(video=0))
        assert frames[0].key_frame
        assert (frames[0].width, frames[0].height) == (640, 360)
    assert len(frames) == clip.packets
    assert abs(len(frames) - 10 * clip.duration) <= 2
    with pytest.raises(ClipError, match="no packets kept"):
        worker.save_clip(now - timedelta(minutes=5), now - timedelta(minutes=4), tmp_path / "old.mp4")


def test_status_changes_become_offline_rule_events() -> None:
    cam = camera("rtsp://127.0.0.1/cam")
    rule = Offline.model_validate(
        {"id": "cam-offline", "name": "offline", "type": "offline", "camera": "cam-1"}
    )
    t = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    down = StatusChange("cam-1", CameraStatus.OFFLINE, CameraStatus.RECONNECTING, t, "no frame for 60 s")
    back = StatusChange("cam-1", CameraStatus.ONLINE, CameraStatus.OFFLINE, t + timedelta(minutes=5))
    blip = StatusChange("cam-1", CameraStatus.RECONNECTING, CameraStatus.ONLINE, t)
    fired, cleared = status_event(down, rule, cam), status_event(back, rule, cam)
    assert fired is not None and cleared is not None
    assert (fired.source, fired.site, fired.rule, fired.cleared) == (
        "camera:cam-1",
        "site-1",
        "cam-offline",
        False,
    )
    assert fired.payload["detail"] == "no frame for 60 s"
    assert cleared.cleared and cleared.id != fired.id
    assert status_event(blip, rule, cam) is None

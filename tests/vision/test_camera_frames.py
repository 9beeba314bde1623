"""The camera wall's frames: the real analysis of a scene clip hands its sink a scaled-down,
annotated JPEG every `vision.frame_every` seconds of the camera's clock; the hub's sink keeps the
newest per camera, and an older frame (an edge box's, late) never replaces a newer one."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from capture.worker import CameraWorker
from hub.runtime import Hub
from hub.store.camera_frames import CameraFrame, frame, store_frame
from offsite import scenes
from tests.vision.conftest import T0, analyser_for, config, play
from vision.analysis import CameraAnalyser
from vision.detections import Detections
from vision.detectors import Detector
from vision.sink import HubSink
from vision.wall import wall_picture

EVERYWHERE = [[0, 0], [1280, 0], [1280, 720], [0, 720]]


class KeepingSink(HubSink):
    """The hub's sink, noting each frame it is handed."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.kept: list[CameraFrame] = []

    def frame(self, shot: CameraFrame) -> None:
        self.kept.append(shot)
        super().frame(shot)


def _decoded(jpeg: bytes) -> tuple[int, ...]:
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None, "not a JPEG"
    return tuple(picture.shape)


def test_the_analysis_hands_the_wall_a_frame_every_five_seconds(start_hub: Any, detector: Detector) -> None:
    hub = start_hub(config({"type": "presence"}, zone=EVERYWHERE))
    scenes.write_clip(scenes.standing_still(arrive_at=0.5, duration=12.0), Path("clip.mp4"), fps=2)
    sink = KeepingSink(hub)
    camera = hub.config.deployment.cameras[0]
    analyser = CameraAnalyser(
        hub.config.deployment, camera, CameraWorker(camera), lambda f: detector.detect([f.image])[0], sink
    )
    play(Path("clip.mp4"), analyser, fps=2)
    assert [(s.time - T0).total_seconds() for s in sink.kept] == [0.0, 5.0, 10.0]
    with hub.db.transaction() as conn:
        latest = frame(conn, "cam")
    assert latest is not None and latest.time == T0 + timedelta(seconds=10)
    assert _decoded(latest.jpeg) == (360, 640, 3) and (latest.width, latest.height) == (640, 360)
    assert len(latest.jpeg) < 150_000


def test_no_frames_when_frame_every_is_zero(start_hub: Any, detector: Detector) -> None:
    loaded = config({"type": "presence"}, zone=EVERYWHERE)
    vision = loaded.deployment.vision.model_copy(update={"frame_every": 0.0})
    hub = start_hub(replace(loaded, deployment=loaded.deployment.model_copy(update={"vision": vision})))
    assert analyser_for(hub, detector).framer is None


def test_an_older_frame_never_replaces_a_newer_one(start_hub: Any) -> None:
    hub = start_hub(config({"type": "presence"}, zone=EVERYWHERE))
    newer = CameraFrame("cam", T0 + timedelta(seconds=10), b"\xff\xd8new", 640, 360)
    older = CameraFrame("cam", T0, b"\xff\xd8old", 640, 360)
    with hub.db.transaction() as conn:
        assert store_frame(conn, newer)
        assert not store_frame(conn, older)
        assert store_frame(conn, replace(newer, time=newer.time + timedelta(seconds=5), jpeg=b"\xff\xd8next"))
        latest = frame(conn, "cam")
    assert latest is not None and latest.jpeg == b"\xff\xd8next"


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1280, 720), (320, 240)])
def test_the_wall_picture_is_at_most_640_across_and_cheap(width: int, height: int) -> None:
    image = np.random.default_rng(1).integers(0, 255, (height, width, 3), np.uint8)
    boxes = Detections.build([[100, 100, 300, 400]], [0.9], [0], ["person"], [3])
    zones = {"z": [(10.0, 10.0), (300.0, 10.0), (300.0, 200.0)]}
    lines = {"l": ((0.0, 50.0), (319.0, 50.0))}
    args: dict[str, Any] = {"title": "窗口", "at": T0, "zones": zones, "lines": lines}
    wall_picture(image, boxes, **args)  # the font loads once
    began = time.perf_counter()
    jpeg, w, h = wall_picture(image, boxes, **args)
    spent = time.perf_counter() - began
    assert _decoded(jpeg)[:2] == (h, w) and w == min(640, width) and abs(h - height * w / width) <= 1
    assert spent < 0.5, spent  # milliseconds on an idle box: once per 5 s, beside 5-30 frames a second

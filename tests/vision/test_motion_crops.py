"""Detection on the moving parts of the rules' region only (`motion.crops`): a walker costs a
fraction of the region, is found where a whole-region run finds them, and people who stopped
moving keep their boxes."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from capture.frames import Frame
from capture.worker import CameraWorker
from hub.config.vision import Motion
from offsite import scenes
from tests.vision.conftest import T0, config, play
from vision.analysis import CameraAnalyser
from vision.batcher import DetectorWorker
from vision.detections import Detections, box_iou
from vision.detectors import Detector
from vision.motion import MotionGate
from vision.region import Region
from vision.replay import replay
from vision.service import VisionService
from vision.sink import HubSink

REGION = Region((496, 196, 1280, 720))  # the waiting zone and 0.2 of the height around it


def analyser(hub: Any, detector: Detector, calls: list[tuple[int, ...]], **more: Any) -> CameraAnalyser:
    """The hub's camera, its detector calls' picture shapes counted in `calls`."""
    deployment = hub.config.deployment
    camera = deployment.cameras[0]

    def detect(frame: Frame) -> Detections:
        calls.append(frame.image.shape)
        return detector.detect([frame.image])[0]

    return CameraAnalyser(deployment, camera, CameraWorker(camera), detect, HubSink(hub), **more)


def test_a_walker_costs_a_fraction_of_the_region_and_is_found_where_the_region_finds_them(
    start_hub: Any, rectangular: Detector
) -> None:
    rule = {"type": "presence", "min_duration": 1}
    hubs = {
        crops: start_hub(config(rule, zone=scenes.WAITING_ZONE, detect={"motion": {"crops": crops}}))
        for crops in (True, False)
    }
    calls: dict[bool, list[tuple[int, ...]]] = {True: [], False: []}
    cameras = {crops: analyser(hub, rectangular, calls[crops]) for crops, hub in hubs.items()}
    scene = scenes.walks_across("right_to_left", start_at=0.5)
    scenes.write_clip(scene, Path("clip.mp4"), fps=2)
    agreement: list[float] = []

    def both(frame: Frame) -> None:
        for camera in cameras.values():
            camera.process(frame)
        seen = {crops: camera.seen for crops, camera in cameras.items()}
        walker = scenes.truth(scene, frame.pts_time or 0.0).boxes.get("walker")
        if walker is None or not REGION.box or walker[0] < REGION.box[0]:
            return  # only the part of the walk inside the region is detected by either
        truth = np.asarray([walker], np.float32)
        assert len(seen[True]) and len(seen[False]), (frame.pts_time, seen)
        on, off = (seen[c].xyxy[box_iou(truth, seen[c].xyxy).argmax()][None] for c in (True, False))
        agreement.append(float(box_iou(on, off)[0, 0]))

    replay(Path("clip.mp4"), both, "cam", 2, T0)
    # The first frame is the whole region; then only where the walker moved, widened to a person.
    assert set(calls[False]) == {(264, 416, 3)}, calls[False]
    assert calls[True][0] == (264, 416, 3) and all(shape[1] < 416 for shape in calls[True][1:]), calls[True]
    pixels = {crops: camera.stats.pixels for crops, camera in cameras.items()}
    assert pixels[True] < 0.45 * pixels[False], pixels
    assert len(agreement) >= 5 and min(agreement) >= 0.9, agreement
    for hub in hubs.values():  # the presence rule fires on both
        with hub.db.transaction() as conn:
            assert conn.execute("SELECT count(*) FROM events WHERE NOT cleared").fetchone() == (1,)


def test_a_person_who_stopped_keeps_their_box_while_another_walks_in(
    start_hub: Any, rectangular: Detector
) -> None:
    """The first of the queue stands still, outside the part the second walks through: the count of
    two is reached although only the walker's part is detected (nothing re-looks at the whole
    region: max_skip 60 s)."""
    rule = {"type": "count", "min_count": 2, "min_duration": 1}
    hub = start_hub(config(rule, zone=scenes.WAITING_ZONE, detect={"motion": {"max_skip": 60}}))
    calls: list[tuple[int, ...]] = []
    camera = analyser(hub, rectangular, calls)
    scenes.write_clip(scenes.queue_builds(max_people=2, every=4.0, clerk=False), Path("clip.mp4"), fps=2)
    play(Path("clip.mp4"), camera, fps=2)
    assert calls.count((264, 416, 3)) == 1, calls  # the first frame only
    assert camera.stats.crops == len(calls) and len(calls) > 4, camera.stats
    with hub.db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE NOT cleared").fetchone() == (1,)


def test_a_still_scene_is_looked_at_whole_every_max_skip(start_hub: Any, rectangular: Detector) -> None:
    rule = {"type": "stationary", "min_duration": 3, "max_movement": 25}
    x, y = scenes.STILL_SPOT
    zone = [[x - 300, y - 400], [x + 300, y - 400], [x + 300, y + 25], [x - 300, y + 25]]
    hub = start_hub(config(rule, zone=zone, detect={"motion": {"max_skip": 3}}))
    detected: list[tuple[float, tuple[int, ...]]] = []
    deployment = hub.config.deployment
    camera = deployment.cameras[0]

    def detect(frame: Frame) -> Detections:
        detected.append((frame.pts_time or 0.0, frame.image.shape))
        return rectangular.detect([frame.image])[0]

    analysis = CameraAnalyser(deployment, camera, CameraWorker(camera), detect, HubSink(hub))
    scenes.write_clip(scenes.standing_still(arrive_at=0.5, duration=14.0), Path("clip.mp4"), fps=2)
    play(Path("clip.mp4"), analysis, fps=2)
    whole = analysis.region(scenes.HEIGHT, scenes.WIDTH)
    region_shape = whole.cut(scenes.render(scenes.standing_still(), 0.0), 640).image.shape
    still = [t for t, shape in detected if t > 6.0]  # the person stands still from about 5 s
    assert still and all(shape == region_shape for t, shape in detected if t > 6.0), detected
    assert 2 <= len(still) <= 4, detected  # every 3 s of the 8 still seconds, no more
    with hub.db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE NOT cleared").fetchone() == (1,)


def test_the_crops_of_one_frame_go_to_the_detector_in_one_batch(
    start_hub: Any, rectangular: Detector
) -> None:
    """Two walkers apart: each frame has two moving parts, detected in one call of the shared worker."""
    hub = start_hub(config({"type": "presence"}, zone=[[0, 340], [1280, 340], [1280, 715], [0, 715]]))
    two = scenes.Scene(
        scenes.walks_across("left_to_right", start_at=0.0, duration=3.0).actors
        + tuple(
            scenes.Actor("other", a.sprite, a.path, mirrored=True)
            for a in scenes.walks_across("right_to_left", start_at=0.0, duration=3.0).actors
        ),
        3.0,
    )
    scenes.write_clip(two, Path("clip.mp4"), fps=2)
    with DetectorWorker(rectangular, max_batch=8, max_wait=0.5) as worker:

        def many(frames: Any) -> list[Detections]:
            futures: list[Future[Detections]] = [worker.submit(f.image) for f in frames]
            return [f.result(timeout=30) for f in futures]

        calls: list[tuple[int, ...]] = []
        camera = analyser(hub, rectangular, calls, detect_many=many)
        play(Path("clip.mp4"), camera, fps=2)
        stats = worker.stats
    assert stats.frames >= 4 and stats.batches < stats.frames, stats  # pairs of crops, one call each


def test_a_model_of_fixed_input_size_detects_the_region_whole(
    start_hub: Any, detector: Detector, rectangular: Detector
) -> None:
    """Each part would be enlarged to the fixed 640 x 640 input and cost a whole run."""
    hub = start_hub(config({"type": "presence"}, zone=scenes.WAITING_ZONE))
    for model, parts in ((detector, False), (rectangular, True)):
        service = VisionService(hub.config.deployment, HubSink(hub), detectors={"person": model})
        assert service.analysers["cam"].parts is parts


@pytest.mark.parametrize(
    ("moving", "expected"),
    [
        ([(900, 400, 1000, 700)], [(788, 276, 1112, 720)]),  # a walker: 0.45 of the height, 0.1 around
        ([(1200, 500, 1210, 520)], [(956, 348, 1280, 672)]),  # a shift at the edge: widened inwards
        ([(100, 100, 200, 300)], []),  # outside the region: nothing to detect
        ([(600, 300, 700, 600), (640, 350, 760, 650)], [(496, 228, 862, 720)]),  # overlapping: joined
        ([(500, 200, 1280, 720)], None),  # most of the region: the region whole
        ([(x, 300, x + 10, 310) for x in range(500, 1280, 150)], None),  # too many: the region whole
    ],
)
def test_moving_parts_are_widened_joined_and_kept_inside_the_region(
    moving: list[tuple[int, int, int, int]], expected: list[tuple[int, int, int, int]] | None
) -> None:
    parts = REGION.parts(moving, (scenes.HEIGHT, scenes.WIDTH))
    assert [p.box for p in parts] == ([REGION.box] if expected is None else expected)


def test_the_gate_says_where_the_picture_moved() -> None:
    gate = MotionGate(Motion(max_skip=5))
    hall = scenes.render(scenes.standing_still(), 0.0)
    assert gate.should_detect(hall, 0.0) and gate.moving is None  # the first frame: everywhere
    moved = hall.copy()
    moved[400:600, 800:880] = 255 - moved[400:600, 800:880]
    assert gate.should_detect(moved, 1.0)
    assert gate.moving is not None and len(gate.moving) == 1, gate.moving
    x1, y1, x2, y2 = gate.moving[0]
    assert 770 <= x1 <= 800 and 880 <= x2 <= 910 and 370 <= y1 <= 400 and 600 <= y2 <= 630, gate.moving
    assert not gate.should_detect(moved, 2.0)  # nothing more moved
    assert gate.should_detect(hall, 6.0) and gate.moving is None  # max_skip since the whole look

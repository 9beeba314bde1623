"""Scenes beyond the four the rules were tuned on, through the whole chain (clip -> real person
model -> tracker -> rules -> hub): each one once went wrong."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from capture.frames import Frame
from capture.worker import CameraWorker
from offsite import scenes
from tests.vision.conftest import analyser_for, config, play
from vision.analysis import CameraAnalyser
from vision.detections import Detections
from vision.detectors import Detector
from vision.sink import HubSink


def clerk_leaves_and_returns(leave_at: float, back_at: float, duration: float) -> scenes.Scene:
    """The clerk walks out of the picture to the left at `leave_at`, comes back at `back_at`."""
    x, y = scenes.CLERK_SPOT
    away = -200.0  # wholly out of the picture
    walk = (x - away) / scenes.WALK_SPEED
    route = scenes.Route(
        ((0.0, x, y), (leave_at, x, y), (leave_at + walk, away, y), (back_at, away, y),
         (back_at + walk, x, y), (math.inf, x, y)),
        scenes.CLERK_SCALE,
    )  # fmt: skip
    return scenes.Scene((scenes.Actor("clerk", "clerk", route),), duration)


def test_the_absence_clear_names_the_track_of_the_returned_clerk(start_hub: Any, detector: Detector) -> None:
    hub = start_hub(config({"type": "absence", "max_absence": 2, "smoothing": 1}, zone=scenes.POST_ZONE))
    scene = clerk_leaves_and_returns(leave_at=1.0, back_at=5.0, duration=10.0)
    scenes.write_clip(scene, Path("clip.mp4"), fps=2)
    play(Path("clip.mp4"), analyser_for(hub, detector), fps=2)
    with hub.db.transaction() as conn:
        rows = conn.execute("SELECT cleared, payload FROM events ORDER BY time").fetchall()
    assert [cleared for cleared, _ in rows] == [False, True], rows
    fired, cleared = rows[0][1], rows[1][1]
    assert fired["tracks"] == [], fired  # nobody at the post when it fired
    assert cleared["reason"] == "returned" and len(cleared["tracks"]) == 1, cleared


def test_a_rule_below_the_cameras_filter_sees_down_to_its_own_threshold(
    start_hub: Any, detector: Detector
) -> None:
    x, y = scenes.STILL_SPOT
    zone = [[x - 300, y - 400], [x + 300, y - 400], [x + 300, y + 25], [x - 300, y + 25]]
    # The model finds these people at 0.43-0.86: the camera's filter alone keeps none of them.
    own = {"type": "presence", "min_confidence": 0.4}
    others = {"id": "others", "type": "presence", "zone": "zone"}  # no threshold of its own
    hub = start_hub(config(own, zone=zone, detect={"min_confidence": {"person": 0.9}}, more_rules=(others,)))
    scenes.write_clip(scenes.standing_still(arrive_at=0.5, duration=7.0), Path("clip.mp4"))
    play(Path("clip.mp4"), analyser_for(hub, detector), fps=2)
    with hub.db.transaction() as conn:
        fired = conn.execute("SELECT rule FROM events WHERE NOT cleared").fetchall()
    assert fired == [("rule",)]


def test_a_still_scene_does_not_run_the_detector(start_hub: Any, detector: Detector) -> None:
    x, y = scenes.STILL_SPOT
    zone = [[x - 300, y - 400], [x + 300, y - 400], [x + 300, y + 25], [x - 300, y + 25]]
    rule = {"type": "stationary", "min_duration": 3, "max_movement": 25}
    hub = start_hub(config(rule, zone=zone, detect={"motion": {"max_skip": 60}}))
    scene = scenes.standing_still(arrive_at=0.5, duration=10.0)
    truth = scenes.write_clip(scene, Path("clip.mp4"), fps=2)  # every frame is analysed
    boxes = [next(iter(t.boxes.values()), None) for t in truth]
    settled = next(t.time for t, box in zip(truth, boxes, strict=True) if box == boxes[-1])
    deployment = hub.config.deployment
    camera = deployment.cameras[0]
    detected: list[float] = []

    def detect(frame: Frame) -> Detections:
        detected.append(frame.pts_time or 0.0)
        return detector.detect([frame.image])[0]

    analyser = CameraAnalyser(deployment, camera, CameraWorker(camera), detect, HubSink(hub))
    play(Path("clip.mp4"), analyser, fps=2)
    region = analyser.region(scenes.HEIGHT, scenes.WIDTH).box
    assert region is not None
    # Every frame of the walk once the walker reaches the zone's region (before, only the parts
    # that moved would be detected, and they lie outside it).
    walking = [t.time for t, box in zip(truth, boxes, strict=True) if box and box[2] > region[0]]
    assert {t for t in walking if t < settled} <= set(detected), detected
    assert [t for t in detected if t > settled + 0.5] == [], detected  # the 4 s of stillness: none
    assert analyser.stats.detected == len(detected) and analyser.stats.frames == 20, analyser.stats
    assert analyser.gate.skipped <= 20 - len(detected) and analyser.gate.skipped >= 8, analyser.gate.skipped
    with hub.db.transaction() as conn:  # the still person's boxes carried over: the rule still fires
        assert conn.execute("SELECT count(*) FROM events WHERE NOT cleared").fetchone() == (1,)


@pytest.mark.parametrize("fps", [2, 1])
def test_a_walker_is_tracked_across_the_line_at_the_default_rate_and_below(
    start_hub: Any, detector: Detector, fps: int
) -> None:
    rule = {"type": "line_crossing", "forbidden": "left_to_right", "cooldown": 1}
    hub = start_hub(config(rule, line=scenes.CROSSING_LINE))
    # 220 px/s: 110 px between frames at 2 fps, more than the walker's 85 px wide box.
    scenes.write_clip(scenes.walks_across("left_to_right", start_at=0.5), Path("clip.mp4"), fps=fps)
    play(Path("clip.mp4"), analyser_for(hub, detector), fps=fps)
    with hub.db.transaction() as conn:
        rows = conn.execute("SELECT payload FROM events WHERE NOT cleared").fetchall()
    assert len(rows) == 1, rows
    assert rows[0][0]["direction"] == "left_to_right" and len(rows[0][0]["tracks"]) == 1, rows


def clerk_shifting(pixels: float, every: float, duration: float) -> scenes.Scene:
    """The clerk at the post, shifting sideways by `pixels` and back, every `every` seconds."""
    x, y = scenes.CLERK_SPOT
    stops, shift, t, i = [(0.0, x, y)], 0.0, every, 0
    while t < duration:
        new = pixels * (i % 2 == 0)
        stops += [(t, x + shift, y), (t + 0.2, x + new, y)]
        shift, t, i = new, t + every, i + 1
    stops.append((math.inf, x + shift, y))
    route = scenes.Route(tuple(stops), scenes.CLERK_SCALE, bob=0)
    return scenes.Scene((scenes.Actor("clerk", "clerk", route),), duration)


def test_the_motion_gate_shows_a_stationary_rule_the_movement_it_looks_for(
    start_hub: Any, detector: Detector
) -> None:
    # 4 px, every 2 s: too small for the gate's 160 px picture, larger than the rule's 2 px.
    rule = {"type": "stationary", "min_duration": 5, "max_movement": 2}
    hub = start_hub(config(rule, zone=scenes.POST_ZONE, detect={"motion": {"max_skip": 60}}))
    scenes.write_clip(clerk_shifting(4.0, every=2.0, duration=12.0), Path("clip.mp4"), fps=2)
    analyser = analyser_for(hub, detector)
    play(Path("clip.mp4"), analyser, fps=2)
    assert analyser.stats.detected >= 6, analyser.stats  # the first frame and each shift
    with hub.db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)

"""Scenarios through the whole chain: composed clip -> PyAV decode -> real person model ->
ByteTrack -> rules -> hub events, alerts, records and clues in a real PostgreSQL, with evidence.

The clips are decoded frame by frame and stamped from their own timestamps, so each scenario is
deterministic and its timings can be asserted to the frame. `test_queue_over_rtsp` runs the
threaded service on a live RTSP stream instead.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from capture.worker import WorkerSettings
from harness.rtsp import start_rtsp_server
from hub.config import LoadedConfig, parse_config
from hub.host import wait_for
from offsite import scenes
from tests.vision.conftest import T0, analyser_for, config, events, play
from vision.detections import Detections
from vision.detectors import Detector
from vision.service import VisionService
from vision.sink import HubSink
from vision.zones import PolygonZone


def in_zone(zone: PolygonZone, truth: scenes.FrameTruth) -> int:
    """How many people of a frame's ground truth stand in the zone."""
    boxes = list(truth.boxes.values())
    return int(zone.trigger(Detections.build(boxes, [1.0] * len(boxes), [0] * len(boxes))).sum())


def test_absence_fires_after_max_absence_and_not_before(start_hub: Any, detector: Detector) -> None:
    leave_at, max_absence = 3.0, 4.0
    hub = start_hub(config({"type": "absence", "max_absence": max_absence, "smoothing": 1},
                           zone=scenes.POST_ZONE))  # fmt: skip
    scenes.write_clip(scenes.window_post_left(leave_at=leave_at, duration=14.0), Path("clip.mp4"))
    play(Path("clip.mp4"), analyser_for(hub, detector), fps=5)
    found = events(hub)
    assert [(cleared, outcome) for _, cleared, outcome, _ in found] == [(False, "opened")], found
    # The clerk is at the post until leave_at and out of the picture 1.8 s later.
    assert leave_at + max_absence <= found[0][0] <= leave_at + 1.8 + max_absence + 0.2, found
    with hub.db.transaction() as conn:
        clue = conn.execute("SELECT department, risk_class, status FROM risk_clues").fetchall()
    assert clue == [("office", 3, "issued")]


def test_queue_fires_once_enough_people_wait_long_enough(start_hub: Any, detector: Detector) -> None:
    min_count, min_duration = 4, 3.0
    hub = start_hub(config({"type": "count", "min_count": min_count, "min_duration": min_duration},
                           zone=scenes.WAITING_ZONE))  # fmt: skip
    scene = scenes.queue_builds(max_people=5, every=2.0, duration=16.0)
    truth = scenes.write_clip(scene, Path("clip.mp4"))
    zone = PolygonZone(scenes.WAITING_ZONE)
    waiting = [t.time for t in truth if in_zone(zone, t) >= min_count]
    play(Path("clip.mp4"), analyser_for(hub, detector), fps=5)
    found = events(hub)
    assert [(cleared, outcome) for _, cleared, outcome, _ in found] == [(False, "opened")], found
    assert waiting[0] + min_duration - 0.3 <= found[0][0] <= waiting[0] + min_duration + 1.0, (
        found,
        waiting[0],
    )


def test_stationary_person_fires_once_standing_long_enough(start_hub: Any, detector: Detector) -> None:
    x, y = scenes.STILL_SPOT
    zone = [[x - 300, y - 400], [x + 300, y - 400], [x + 300, y + 25], [x - 300, y + 25]]
    hub = start_hub(config({"type": "stationary", "min_duration": 5, "max_movement": 25}, zone=zone))
    scene = scenes.standing_still(arrive_at=1.0, duration=16.0)
    truth = scenes.write_clip(scene, Path("clip.mp4"))
    boxes = [next(iter(t.boxes.values()), None) for t in truth]
    settled = next(t.time for t, box in zip(truth, boxes, strict=True) if box == boxes[-1])
    play(Path("clip.mp4"), analyser_for(hub, detector), fps=5)
    found = events(hub)
    assert [(cleared, outcome) for _, cleared, outcome, _ in found] == [(False, "opened")], found
    assert settled + 5 - 0.3 <= found[0][0] <= settled + 5 + 1.5, (found, settled)


@pytest.mark.parametrize(
    ("directions", "alerts"),
    [
        (["left_to_right"], 1),
        (["right_to_left"], 0),
        (["left_to_right", "right_to_left", "left_to_right"], 2),
    ],
)
def test_wrong_way_crossing_opens_one_alert_per_crossing(
    start_hub: Any, detector: Detector, directions: list[str], alerts: int
) -> None:
    rule = {"type": "line_crossing", "forbidden": "left_to_right", "cooldown": 1}
    hub = start_hub(config(rule, line=scenes.CROSSING_LINE))
    analyser = analyser_for(hub, detector)
    start = T0
    for i, direction in enumerate(directions):
        clip = Path(f"walk-{i}.mp4")
        scenes.write_clip(scenes.walks_across(direction), clip)  # type: ignore[arg-type]
        start += timedelta(seconds=play(clip, analyser, fps=5, start=start) + 10)
    with hub.db.transaction() as conn:
        rows = conn.execute("SELECT status, cardinality(evidence) FROM alerts ORDER BY id").fetchall()
    assert rows == [("closed", 1)] * alerts  # opened and closed at once; its picture attached


def test_queue_over_rtsp_reaches_the_hub_with_picture_and_clip(
    start_hub: Any, detector: Detector, tmp_path: Path
) -> None:
    scenes.write_clip(scenes.queue_builds(max_people=5, every=1.5, duration=20.0), tmp_path / "queue.mp4")
    server = start_rtsp_server({"queue": tmp_path / "queue.mp4"})
    try:
        url = f"rtsp://127.0.0.1:{server.port}/queue"
        hub = start_hub(config({"type": "count", "min_count": 4, "min_duration": 2},
                               zone=scenes.WAITING_ZONE, url=url))  # fmt: skip
        service = VisionService(hub.config.deployment, HubSink(hub), WorkerSettings(open_timeout=5),
                                detectors={"person": detector})  # fmt: skip
        with service:

            def alerted_with_clip() -> bool:
                with hub.db.transaction() as conn:
                    row = conn.execute("SELECT cardinality(evidence) FROM alerts").fetchone()
                return row is not None and row[0] == 2

            wait_for(alerted_with_clip, 60)
        stats = service.analysers["cam"].stats
    finally:
        server.remove()
    with hub.db.transaction() as conn:
        evidence = conn.execute("SELECT media_type FROM evidence ORDER BY media_type").fetchall()
        row = conn.execute("SELECT e.payload FROM alerts a JOIN events e ON e.id = a.first_event").fetchone()
        kept = {r[0] for r in conn.execute("SELECT sha256 FROM evidence")}
    # the annotated picture, the frame as the camera gave it (for the dataset), the clip
    assert evidence == [("image/jpeg",), ("image/jpeg",), ("video/mp4",)]
    assert row is not None
    frame, seen = row[0]["frame"], row[0]["detections"]
    assert frame["sha256"] in kept and (frame["width"], frame["height"]) == (1280, 720)
    assert sum(d["label"] == "person" for d in seen) >= 4 and all(len(d["box"]) == 4 for d in seen)
    assert stats.errors == 0, stats.last_error
    assert float(np.percentile(stats.latencies, 95)) < 2.0, stats.latencies


def test_a_dead_camera_becomes_an_offline_alert_after_each_rules_after(
    start_hub: Any, detector: Detector
) -> None:
    loaded = config({"type": "presence"}, zone=scenes.WAITING_ZONE, url="rtsp://127.0.0.1:9/none")
    offline = (
        "- {id: cam-offline, type: offline, name: 摄像头离线, camera: cam, after: 3}\n"
        "- {id: cam-offline-later, type: offline, name: 摄像头长时离线, camera: cam, after: 10m}\n"
    )
    text = loaded.text.replace("rules:\n", "rules:\n" + offline, 1)
    hub = start_hub(LoadedConfig(parse_config(text), hashlib.sha256(text.encode()).hexdigest(), text))
    settings = WorkerSettings(open_timeout=1, backoff_initial=0.1, backoff_max=0.5, offline_after=1.5)
    with VisionService(hub.config.deployment, HubSink(hub), settings, detectors={"person": detector}):

        def offline_alert() -> bool:
            with hub.db.transaction() as conn:
                row = conn.execute("SELECT status FROM alerts WHERE rule = 'cam-offline'").fetchone()
            return row == ("open",)

        wait_for(offline_alert, 30)
    with hub.db.transaction() as conn:
        health = conn.execute("SELECT status, time FROM device_health WHERE device = 'cam'").fetchall()
        alerts = conn.execute("SELECT rule, first_seen FROM alerts").fetchall()
    went_offline = next(t for status, t in health if status == "offline")
    assert [rule for rule, _ in alerts] == ["cam-offline"]  # the 10 min rule waits
    # 3 s from the camera's start (it never sent a frame), 1.5 s after it was reported offline.
    assert alerts[0][1] >= went_offline + timedelta(seconds=1), (alerts, went_offline)

"""Tracked detections into the `detections` table: sampled per track at `vision.detections_every`,
only labels a rule of the camera watches, written through the real analysis of a scene clip and
read back by GET /cameras/{id}/occupancy."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import create_token
from hub.store.detections import DetectionRow
from offsite import scenes
from tests.api.conftest import running
from tests.vision.conftest import T0, analyser_for, config, play
from vision.detections import NO_TRACK, Detections
from vision.detectors import Detector
from vision.sink import DetectionSampler, HubSink

BOX = [[10.0, 20.0, 50.0, 120.0]]


def _frame(track: int, label: str) -> Detections:
    return Detections.build(BOX, [0.8], [0], [label], [track])


@pytest.mark.parametrize(
    ("every", "track", "label", "sampled"),
    [
        (5.0, 7, "person", [0.0, 5.0, 10.0]),  # one row per 5 s of the camera's clock, frames at 2 fps
        (2.0, 7, "person", [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]),
        (5.0, 7, "car", []),  # no rule of the camera watches cars
        (5.0, NO_TRACK, "person", []),  # no track: no dwell to record
        (0.0, 7, "person", []),  # 0 turns recording off
    ],
)
def test_the_sampler_keeps_one_row_per_track_per_period_of_watched_labels(
    every: float, track: int, label: str, sampled: list[float]
) -> None:
    sampler = DetectionSampler("cam", every, {"person"})
    rows = [row for i in range(21) for row in sampler(T0 + timedelta(seconds=i / 2), _frame(track, label))]
    assert [(r.time - T0).total_seconds() for r in rows] == sampled
    assert all(r.camera == "cam" and r.track_id == track and r.box == (10.0, 20.0, 50.0, 120.0) for r in rows)


def test_the_hub_sink_writes_in_batches_at_most_five_seconds_late(start_hub: Any) -> None:
    hub = start_hub(config({"type": "presence"}, zone=[[0, 0], [1280, 0], [1280, 720], [0, 720]]))
    now = [100.0]
    sink = HubSink(hub, clock=lambda: now[0])

    def stored() -> int:
        with hub.db.transaction() as conn:
            row = conn.execute("SELECT count(*) FROM detections").fetchone()
        assert row is not None
        return int(row[0])

    sink.record([DetectionRow(T0, "cam", "person", 0.9, (1.0, 2.0, 3.0, 4.0), 1)])
    now[0] += 4.9
    sink.record([DetectionRow(T0, "cam", "person", 0.9, (1.0, 2.0, 3.0, 4.0), 2)])
    assert stored() == 0  # waiting for the batch
    now[0] += 0.1
    sink.record([])  # a frame with nobody on it still writes what waited
    assert stored() == 2
    sink.record([DetectionRow(T0, "cam", "person", 0.9, (1.0, 2.0, 3.0, 4.0), 3)])
    sink.flush()  # the analysis stopping
    assert stored() == 3


def test_the_analysis_records_tracks_at_the_sampled_rate_and_the_api_reads_them_back(
    start_hub: Any, detector: Detector
) -> None:
    everywhere = [[0, 0], [1280, 0], [1280, 720], [0, 720]]
    hub = start_hub(config({"type": "presence"}, zone=everywhere))
    scenes.write_clip(scenes.standing_still(arrive_at=0.5, duration=12.0), Path("clip.mp4"), fps=2)
    analyser = analyser_for(hub, detector)
    assert analyser.recorder is not None
    play(Path("clip.mp4"), analyser, fps=2)
    analyser.recorder.flush()
    with hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT track_id, time, label, cardinality(box) FROM detections"
            " WHERE camera = 'cam' ORDER BY track_id, time"
        ).fetchall()
        token = create_token(conn, "op", "operator", datetime.now(UTC))
    tracks: dict[int, list[float]] = {}
    for track, time, label, corners in rows:
        assert label == "person" and corners == 4, rows
        tracks.setdefault(track, []).append((time - T0).total_seconds())
    assert tracks, "no tracked detection was recorded"
    longest = max(tracks.values(), key=len)
    assert longest[0] <= 2.0 and len(longest) == 3, tracks  # from its arrival to 12 s: at 0-2, 5-7, 10-12 s
    for times in tracks.values():  # each row 5 s after the track's last one, or the next frame after that
        assert all(5.0 <= b - a <= 5.5 for a, b in itertools.pairwise(times)), tracks

    with running(hub) as url:
        answer = httpx.get(
            f"{url}/cameras/cam/occupancy",
            params={"start": T0.isoformat(), "end": (T0 + timedelta(minutes=1)).isoformat()},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    read = {t["track"]: (t["samples"], round(t["dwell_s"], 3)) for t in body["tracks"]}
    assert read == {t: (len(times), round(times[-1] - times[0], 3)) for t, times in tracks.items()}
    assert max(m["tracks"] for m in body["minutes"]) >= 1 and {m["label"] for m in body["minutes"]} == {
        "person"
    }

"""A box's sampled tracked detections at the hub: `POST /edge/detections` bound to the token's
site and idempotent on retry, and a box's camera analysis (a real scene clip through the real
detector) giving occupancy at the hub after an outage of its uplink, nothing lost."""

from __future__ import annotations

import itertools
import logging
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import create_token
from capture.frames import Frame
from capture.worker import CameraWorker
from edge.box import BoxSink
from edge.uplink import HubUplink
from harness.tcpproxy import TcpProxy
from hub.host import free_port
from hub.spool import DurableSink
from hub.store.detections import DetectionRow
from offsite import scenes
from tests.api.conftest import Api, running
from tests.edge.conftest import T0, TIMEOUT
from tests.vision.conftest import T0 as CLIP_T0
from tests.vision.conftest import config, detector, play, start_hub
from vision.analysis import CameraAnalyser
from vision.detections import Detections
from vision.detectors import Detector

__all__ = ["detector", "start_hub"]  # fixtures of tests/vision, used here

EVERYWHERE = [[0, 0], [1280, 0], [1280, 720], [0, 720]]
AT = T0.replace(second=0)  # rows from here to 11 s later stand in one minute


def rows_json(camera: str, tracks: range, at: datetime = AT) -> list[dict[str, Any]]:
    return [
        {
            "time": (at + timedelta(seconds=5 * n)).isoformat(),
            "camera": camera,
            "label": "person",
            "confidence": 0.8,
            "box": [10.0, 20.0, 50.0, 120.0],
            "track_id": track,
        }
        for track in tracks
        for n in range(3)
    ]


def occupancy(hub: Api, camera: str) -> dict[str, Any]:
    answer = hub.call(
        "operator",
        "GET",
        f"/cameras/{camera}/occupancy",
        params={"start": AT.isoformat(), "end": (AT + timedelta(minutes=5)).isoformat()},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def stored(hub: Api) -> int:
    with hub.hub.db.transaction() as conn:
        row = conn.execute("SELECT count(*) FROM detections").fetchone()
    assert row is not None
    return int(row[0])


def test_a_box_posts_its_sites_detections_once_however_often_it_retries(hub: Api) -> None:
    rows = rows_json("hall-window-1", range(1, 5))
    answer = hub.call("box-hall", "POST", "/edge/detections", json={"detections": rows})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 12, "duplicates": 0}
    # The answer lost on the way back: the box sends the batch again, with two rows more.
    again = rows + rows_json("hall-window-1", range(5, 6), AT + timedelta(seconds=1))[:2]
    answer = hub.call("box-hall", "POST", "/edge/detections", json={"detections": again})
    assert answer.json() == {"stored": 2, "duplicates": 12}
    assert stored(hub) == 14
    seen = occupancy(hub, "hall-window-1")
    assert {t["track"]: t["samples"] for t in seen["tracks"]} == {1: 3, 2: 3, 3: 3, 4: 3, 5: 2}
    assert {(m["label"], m["tracks"]) for m in seen["minutes"]} == {("person", 5)}


def test_a_box_speaking_for_another_site_or_out_of_time_is_refused_naming_the_row(hub: Api) -> None:
    rows = rows_json("hall-window-1", range(1, 2)) + rows_json("hall-window-1", range(2, 3))
    answer = hub.call("box-cold", "POST", "/edge/detections", json={"detections": rows})
    assert answer.status_code == 403, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "detections", 0, "camera"]
    assert "not a camera of site lintong-coldstore" in error["msg"]
    ahead = [*rows[:2], {**rows[2], "time": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}]
    answer = hub.call("box-hall", "POST", "/edge/detections", json={"detections": ahead})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "detections", 2, "time"]
    assert "ahead of the hub's clock" in answer.json()["detail"][0]["msg"]
    assert hub.call("operator", "POST", "/edge/detections", json={"detections": rows}).status_code == 403
    assert stored(hub) == 0  # a refused batch leaves nothing behind


def test_a_box_refused_for_one_batch_delivers_the_others_and_records_the_refusal(
    hub: Api, tmp_path: Path
) -> None:
    uplink = HubUplink(hub.url, hub.tokens["box-hall"], timeout=TIMEOUT)
    outbox = DurableSink(tmp_path / "outbox.sqlite", uplink)
    try:
        good = [DetectionRow(AT, "hall-window-1", "person", 0.9, (1.0, 2.0, 3.0, 4.0), n) for n in (1, 2)]
        foreign = [DetectionRow(AT, "coldstore-cam", "person", 0.9, (1.0, 2.0, 3.0, 4.0), 3)]
        later = [DetectionRow(AT, "hall-waiting", "person", 0.9, (1.0, 2.0, 3.0, 4.0), 4)]
        for batch in (good, foreign, later):
            outbox.keep_detections(batch)
        assert outbox.drain(20)
        assert stored(hub) == 3
        ((kind, _, reason),) = outbox.refusals()
        assert kind == "detections" and "coldstore-cam is not a camera of site lintong-hall" in reason
    finally:
        outbox.close()
        uplink.close()


def test_a_box_cameras_analysis_gives_occupancy_at_the_hub_after_an_outage(
    start_hub: Any, detector: Detector, tmp_path: Path
) -> None:
    hub = start_hub(config({"type": "presence"}, zone=EVERYWHERE))
    deployment = hub.config.deployment
    camera = deployment.cameras[0]
    with hub.db.transaction() as conn:
        now = datetime.now(UTC)
        box_token = create_token(conn, "box", "edge", now, site=camera.site)
        operator = create_token(conn, "op", "operator", now)
    scenes.write_clip(scenes.standing_still(arrive_at=0.5, duration=12.0), Path("clip.mp4"), fps=2)
    with running(hub) as url:
        proxy = TcpProxy((httpx.URL(url).host, httpx.URL(url).port or 80))
        uplink = HubUplink(proxy.url, box_token, timeout=0.5)
        outbox = DurableSink(tmp_path / "outbox.sqlite", uplink)
        sink = BoxSink(outbox, deployment)

        def detect(frame: Frame) -> Detections:
            return detector.detect([frame.image])[0]

        analyser = CameraAnalyser(deployment, camera, CameraWorker(camera), detect, sink)
        try:
            assert analyser.recorder is not None  # the box's sink keeps tracked detections
            with proxy.outage("blackhole"):
                play(Path("clip.mp4"), analyser, fps=2)
                analyser.recorder.flush()
                waiting = outbox.detections_waiting()
                assert waiting >= 3, "the analysis sampled no tracked detection"
                assert not outbox.drain(1.5)  # the hub is out of reach: everything waits
            assert outbox.drain(30)
            assert outbox.stats.detections_delivered == waiting
        finally:
            outbox.close()
            uplink.close()
            proxy.close()
        with hub.db.transaction() as conn:
            rows = conn.execute(
                "SELECT track_id, time FROM detections WHERE camera = %s ORDER BY track_id, time",
                (camera.id,),
            ).fetchall()
        assert len(rows) == waiting  # every row once
        tracks: dict[int, list[float]] = {}
        for track, time in rows:
            tracks.setdefault(int(track), []).append((time - CLIP_T0).total_seconds())
        for times in tracks.values():  # one row per track every 5 s of the camera's clock, as at the hub
            assert all(5.0 <= b - a <= 5.5 for a, b in itertools.pairwise(times)), tracks
        answer = httpx.get(
            f"{url}/cameras/{camera.id}/occupancy",
            params={"start": CLIP_T0.isoformat(), "end": (CLIP_T0 + timedelta(minutes=1)).isoformat()},
            headers={"Authorization": f"Bearer {operator}"},
            timeout=10,
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {t["track"]: t["samples"] for t in body["tracks"]} == {t: len(v) for t, v in tracks.items()}
    assert max(m["tracks"] for m in body["minutes"]) >= 1


def test_a_full_outbox_evicts_tracked_detections_before_any_evidence_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    away = HubUplink(f"http://127.0.0.1:{free_port()}", "token", timeout=0.5)  # nothing listens
    outbox = DurableSink(tmp_path / "outbox.sqlite", away, limit_bytes=30_000)
    try:
        with caplog.at_level(logging.WARNING, logger="hub.spool"):
            for n in range(10):  # 10 batches of 20 rows, about 2 KB each
                rows = [
                    DetectionRow(AT, "hall-window-1", "person", 0.9, (1.0, 2.0, 3.0, 4.0), 20 * n + t)
                    for t in range(20)
                ]
                outbox.keep_detections(rows)
            assert outbox.detections_waiting() == 200 and outbox.stats.evicted == 0
            for n in range(3):
                outbox.keep(bytes([n]) * 9_000, "image/jpeg")
            assert outbox.size() <= 30_000
            assert outbox.stats.evicted_snapshots == 0  # the evidence stays ...
            assert 0 < outbox.stats.evicted_detections < 200  # ... the oldest detections made room
            assert outbox.detections_waiting() == 200 - outbox.stats.evicted_detections
            with closing(sqlite3.connect(f"file:{outbox.path}?mode=ro", uri=True)) as db:
                (oldest,) = db.execute("SELECT min(seq) FROM detections").fetchone()
            assert oldest == 1 + outbox.stats.evicted_detection_batches  # the oldest batches went
            assert outbox.stats.evicted == outbox.stats.evicted_detection_batches  # the heartbeat's count
            assert "tracked detection(s)" in caplog.text and "before any evidence" in caplog.text
            outbox.keep(b"x" * 25_000, "image/jpeg")  # past what the detections can free: evidence goes
            assert outbox.detections_waiting() == 0 and outbox.stats.evicted_snapshots >= 1
    finally:
        outbox.close()
        away.close()

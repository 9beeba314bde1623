"""The camera wall shows each camera's latest analysed frame: a scene clip goes through the real
analysis (the demo's person model, tracking, rules) into the hub, the wall shows the frame it kept
and swaps in the next one without a reload; the occupancy panel draws the people the same analysis
sampled, in both languages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from capture.frames import Frame
from capture.worker import CameraWorker
from offsite import scenes
from tests.api.conftest import Api
from tests.web.conftest import OPERATOR
from tests.web.pages import sign_in
from vision.analysis import CameraAnalyser
from vision.detections import Detections
from vision.detectors import DetectorSpec, load_detector
from vision.replay import replay
from vision.sink import HubSink

MODEL = "pkg:fall_detection/models/best_fp16.onnx"  # the demo's person model


def test_the_wall_shows_the_analysed_frame_refreshes_it_and_draws_occupancy(
    hub: Api, page: Page, tmp_path: Path
) -> None:
    deployment = hub.hub.config.deployment
    camera = next(c for c in deployment.cameras if c.id == "hall-window-1")
    detector = load_detector(DetectorSpec(model=MODEL))

    def detect(frame: Frame) -> Detections:
        return detector.detect([frame.image])[0]

    analyser = CameraAnalyser(deployment, camera, CameraWorker(camera), detect, HubSink(hub.hub))
    clip = tmp_path / "window.mp4"
    scenes.write_clip(scenes.window_post_left(leave_at=60.0, duration=6.0, fps=2), clip, fps=2)
    began = datetime.now(UTC) - timedelta(seconds=7)
    replay(clip, analyser.process, camera.id, 2, began)  # frames kept at 0 s and 5 s of its clock
    assert analyser.recorder is not None
    analyser.recorder.flush()
    first_at = hub.call("operator", "GET", "/cameras").json()[0]["frame_at"]
    assert datetime.fromisoformat(first_at) == began + timedelta(seconds=5)

    sign_in(page, hub, OPERATOR, "/")
    page.locator(".nav-cameras").click()
    card = page.locator(".camera-hall-window-1")
    picture = card.locator("img.frame")
    expect(picture).to_be_visible()
    assert picture.evaluate("img => img.complete && img.naturalWidth") == 640  # 1280 px scaled down
    expect(card.locator(".age")).to_have_text(re.compile(r"^\d+ 秒前$"))
    expect(card.locator(".stale-mark")).to_have_count(0)
    shown = picture.get_attribute("src")
    assert shown and shown.startswith("blob:")

    # The analysis goes on: the next frame it keeps reaches the open page within a refresh.
    again = max(datetime.now(UTC), began + timedelta(seconds=10))
    replay(clip, analyser.process, camera.id, 2, again)
    expect(card).not_to_have_attribute("data-frame-at", re.compile(re.escape(first_at[:19])), timeout=15_000)
    expect(picture).not_to_have_attribute("src", shown, timeout=10_000)
    assert picture.evaluate("img => img.complete && img.naturalWidth") == 640
    expect(page.locator(".camera-hall-waiting .frame.none")).to_have_text("暂无分析画面")
    page.screenshot(path=tmp_path / "camera-frames-zh.png", full_page=True)

    card.locator(".to-occupancy").click()
    chart = page.locator(".occupancy .occupancy-chart")
    expect(chart).to_have_attribute("data-labels", "person")
    expect(chart).to_have_attribute("data-peak", re.compile(r"^[1-9]"))  # the clerk, tracked
    assert chart.locator("canvas").count() >= 1
    expect(page.locator(".occupancy .dwell li").first).to_have_text(re.compile(r"^人员：停留 \d+ 次"))
    page.screenshot(path=tmp_path / "camera-occupancy-zh.png", full_page=True)
    page.locator(".occupancy .el-drawer__close-btn").click()
    page.locator(".language").click()
    expect(card.locator(".age")).to_have_text(re.compile(r"^\d+ (s|min) ago$"))
    card.locator(".to-occupancy").click()
    expect(page.locator(".occupancy .dwell li").first).to_have_text(re.compile(r"^Person: stays \d+"))
    expect(chart).to_have_attribute("data-labels", "person")
    page.screenshot(path=tmp_path / "camera-occupancy-en.png", full_page=True)

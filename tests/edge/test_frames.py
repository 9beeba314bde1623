"""A box's analysed frames on the hub's camera wall: the newest of each camera arrives, the
analysis never waits on the uplink (a blackholed link drops frames, it does not hold them), and a
frame the hub refuses is dropped, not sent again."""

from __future__ import annotations

import io
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from edge.box import BoxSink
from edge.frames import FrameSender
from edge.uplink import HubUplink
from harness.tcpproxy import TcpProxy
from hub.store.camera_frames import CameraFrame
from tests.api.conftest import Api
from tests.edge.conftest import TIMEOUT, box


def shot(camera: str, at: datetime, shade: int) -> CameraFrame:
    out = io.BytesIO()
    Image.new("RGB", (64, 36), (shade, shade, shade)).save(out, format="JPEG")
    return CameraFrame(camera, at, out.getvalue(), 64, 36)


def wall(hub: Api, camera: str) -> bytes | None:
    answer = hub.call("operator", "GET", f"/cameras/{camera}/frame")
    return answer.content if answer.status_code == 200 else None


def settle(sender: FrameSender, offered: int, timeout: float = 20) -> None:
    """Wait until every frame offered was sent, dropped or replaced."""
    end = time.monotonic() + timeout
    while sender.sent + sender.dropped + sender.replaced < offered:
        assert time.monotonic() < end, (sender.sent, sender.dropped, sender.replaced)
        time.sleep(0.02)


def test_the_newest_frame_of_each_camera_reaches_the_wall_and_an_outage_never_holds_the_analysis(
    hub: Api, proxy: TcpProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox, uplink = box(tmp_path / "outbox.sqlite", hub.url, hub.tokens["box-hall"], TIMEOUT)
    sender = FrameSender(HubUplink(proxy.url, hub.tokens["box-hall"], timeout=3))  # a blackhole: 3 s
    sink = BoxSink(outbox, hub.hub.config.deployment, frames=sender)
    now = datetime.now(UTC) - timedelta(seconds=30)
    try:
        first = shot("hall-window-1", now, 10)
        sink.frame(first)
        sink.frame(shot("hall-waiting", now, 20))
        settle(sender, 2)
        assert sender.sent == 2
        assert wall(hub, "hall-window-1") == first.jpeg
        with proxy.outage("blackhole"), caplog.at_level(logging.WARNING, logger="edge.frames"):
            start = time.perf_counter()
            for n in range(1, 21):  # 20 frames while every request hangs until its timeout
                sink.frame(shot("hall-window-1", now + timedelta(seconds=n), 100 + n))
            assert time.perf_counter() - start < 0.5  # handed over, not sent, by the analysis thread
            settle(sender, 22, timeout=30)
            assert sender.dropped >= 1 and sender.replaced >= 15  # the newest only was tried
            assert caplog.text.count("dropped (the next one tries again)") == 1  # said once
        assert wall(hub, "hall-window-1") == first.jpeg  # nothing of the outage arrived
        newest = shot("hall-window-1", now + timedelta(seconds=25), 200)
        sink.frame(newest)
        settle(sender, 23)
        assert wall(hub, "hall-window-1") == newest.jpeg
        sink.frame(shot("coldstore-cam", now, 30))  # not a camera of the box's site: refused
        settle(sender, 24)
        assert sender.dropped >= 2 and wall(hub, "hall-window-1") == newest.jpeg
    finally:
        sender.close()
        outbox.close()
        uplink.close()

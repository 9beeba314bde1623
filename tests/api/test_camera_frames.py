"""The camera wall's frames through the API: GET /cameras/{id}/frame serves the latest frame an
analysis kept (through the hub's sink, or an edge box's POST /edge/frames), GET /cameras says how
old it is; the box may post only its own site's cameras."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import httpx
import numpy as np

from api.auth import create_token
from hub.store.camera_frames import CameraFrame
from tests.api.conftest import LIMITS, Api
from vision.sink import HubSink

WINDOW = "/cameras/hall-window-1/frame"


def _jpeg(width: int = 64, height: int = 48, shade: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), shade, np.uint8))
    assert ok
    return bytes(data)


def _hall_box(api: Api) -> str:
    """A token of an edge box serving lintong-hall (the conftest's box serves the cold store)."""
    with api.hub.db.transaction() as conn:
        return create_token(conn, "hall-box", "edge", datetime.now(UTC), site="lintong-hall")


def test_the_wall_reads_the_latest_frame_the_sink_kept_and_its_age(api: Api) -> None:
    missing = api.call("operator", "GET", WINDOW)
    assert missing.status_code == 404 and "vision.frame_every" in missing.text
    before = api.call("operator", "GET", "/cameras").json()[0]
    assert (before["frame_at"], before["frame_stale"]) == (None, True)
    now = datetime.now(UTC).replace(microsecond=0)
    sink = HubSink(api.hub)
    sink.frame(CameraFrame("hall-window-1", now - timedelta(seconds=2), _jpeg(), 64, 48))
    sink.frame(CameraFrame("hall-waiting", now - timedelta(minutes=5), _jpeg(shade=10), 64, 48))

    got = api.call("operator", "GET", WINDOW)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.content == _jpeg() and "no-cache" in got.headers["cache-control"]
    again = api.call("operator", "GET", WINDOW, headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304  # the wall asks again every few seconds: nothing new, nothing sent

    cameras = {c["id"]: c for c in api.call("operator", "GET", "/cameras").json()}
    window, waiting = cameras["hall-window-1"], cameras["hall-waiting"]
    assert datetime.fromisoformat(window["frame_at"]) == now - timedelta(seconds=2)
    assert (window["frame_stale"], waiting["frame_stale"]) == (False, True)  # 5 min > 3 x 5 s

    sink.frame(CameraFrame("hall-window-1", now, _jpeg(shade=200), 64, 48))
    newer = api.call("operator", "GET", WINDOW, headers={"If-None-Match": got.headers["etag"]})
    assert newer.status_code == 200 and newer.content == _jpeg(shade=200)


def test_the_frames_are_the_duty_platforms(api: Api) -> None:
    HubSink(api.hub).frame(
        CameraFrame("hall-window-1", datetime.now(UTC) - timedelta(hours=1), _jpeg(), 64, 48)
    )
    codes = [api.call(who, "GET", WINDOW).status_code for who in ("admin", "market", "edge")]
    assert codes == [200, 403, 403]
    assert api.call("anonymous", "GET", WINDOW).status_code == 401
    unknown = api.call("operator", "GET", "/cameras/nowhere/frame")
    assert unknown.status_code == 404 and "nowhere" in unknown.text


def test_an_edge_box_posts_its_own_sites_frames_to_the_wall(api: Api) -> None:
    box = {"Authorization": f"Bearer {_hall_box(api)}", "Content-Type": "image/jpeg"}
    now = datetime.now(UTC).replace(microsecond=0)

    def post(camera: str, at: datetime, body: bytes, headers: dict[str, str] = box) -> httpx.Response:
        return api.call(
            "anonymous", "POST", "/edge/frames", params={"camera": camera, "time": at.isoformat()},
            content=body, headers=headers,
        )  # fmt: skip

    taken = post("hall-window-1", now, _jpeg(640, 360))
    assert taken.status_code == 200, taken.text
    assert (taken.json()["width"], taken.json()["height"], taken.json()["kept"]) == (640, 360, True)
    assert api.call("operator", "GET", WINDOW).content == _jpeg(640, 360)
    late = post("hall-window-1", now - timedelta(seconds=5), _jpeg(640, 360, 1))
    assert late.status_code == 200 and late.json()["kept"] is False  # a late frame never hides a newer one
    assert api.call("operator", "GET", WINDOW).content == _jpeg(640, 360)

    foreign = post("coldstore-temp", now, _jpeg())  # a sensor of another site, not its camera
    assert foreign.status_code == 403 and foreign.json()["detail"][0]["loc"] == ["query", "camera"]
    cold = {"Authorization": f"Bearer {api.tokens['edge']}", "Content-Type": "image/jpeg"}
    other = post("hall-window-1", now, _jpeg(), cold)  # the cold store's box speaks for no hall camera
    assert other.status_code == 403 and "lintong-coldstore" in other.text
    assert post("hall-window-1", now, b"GIF89a not a jpeg").json()["detail"][0]["loc"] == ["body"]
    ahead = post("hall-window-1", now + timedelta(hours=1), _jpeg())
    assert ahead.status_code == 422 and ahead.json()["detail"][0]["loc"] == ["query", "time"]
    assert post("hall-window-1", now, b"\xff" * (LIMITS.max_body + 1)).status_code == 413
    operator = {"Authorization": f"Bearer {api.tokens['operator']}", "Content-Type": "image/jpeg"}
    assert post("hall-window-1", now, _jpeg(), operator).status_code == 403


def test_a_body_that_is_not_a_jpeg_is_refused_even_with_image_open_patched(api: Api) -> None:
    """ultralytics patches PIL.Image.open in any process that imports it (the demo's, a hub
    running the ultralytics backend): its patch reached for a HEIF plugin that is not installed,
    and the box got 500 instead of 422."""
    import ultralytics.utils.patches  # noqa: F401  (the patch, as the detector's import applies it)

    box = {"Authorization": f"Bearer {_hall_box(api)}", "Content-Type": "image/jpeg"}
    params = {"camera": "hall-window-1", "time": datetime.now(UTC).isoformat()}
    for body in (b"GIF89a not a jpeg", b"\xff\xd8\xff truncated", b""):
        refused = api.call("anonymous", "POST", "/edge/frames", params=params, content=body, headers=box)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body"]

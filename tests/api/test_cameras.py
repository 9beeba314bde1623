"""The camera wall's read: each camera's health, its newest picture and its findings today, for
the duty platform only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.store.device_health import HealthChange, store_health
from tests.api.conftest import Api, evidence_file
from tests.hub.feed import HALL
from tests.web.pages import clip, snapshot


def test_each_camera_shows_its_health_newest_picture_and_findings_today(api: Api) -> None:
    now = datetime.now(UTC)
    with api.hub.db.transaction() as conn:
        store_health(
            conn,
            [
                HealthChange(now - timedelta(minutes=5), "camera", "hall-window-1", "online"),
                HealthChange(
                    now - timedelta(minutes=1), "camera", "hall-window-1", "frozen", "same frame for 60 s"
                ),
            ],
        )
    older = api.raise_finding(HALL, evidence=[evidence_file(api, snapshot() + b"older")])["alert_id"]
    picture = evidence_file(api, snapshot())
    newest = api.raise_finding(HALL, evidence=[evidence_file(api, clip(), "video/mp4"), picture])["alert_id"]
    assert newest > older

    cameras = {c["id"]: c for c in api.call("operator", "GET", "/cameras").json()}
    window = cameras["hall-window-1"]
    assert (window["name"], window["site"]) == ("1号窗口", "lintong-hall")
    assert (window["health"]["status"], window["health"]["detail"]) == ("frozen", "same frame for 60 s")
    # The newest alert's picture, not its clip (listed first) and not an older alert's picture.
    assert window["snapshot"]["alert_id"] == newest
    assert window["snapshot"]["link"] == f"/evidence/{picture}"
    assert window["findings_today"] == 2
    downloaded = api.call("operator", "GET", window["snapshot"]["link"])
    assert (downloaded.headers["content-type"], downloaded.content) == ("image/jpeg", snapshot())

    waiting = cameras["hall-waiting"]  # never reported, never alerted
    assert (waiting["health"], waiting["snapshot"], waiting["findings_today"]) == (None, None, 0)


def test_the_camera_wall_is_the_duty_platforms(api: Api) -> None:
    assert api.call("admin", "GET", "/cameras").status_code == 200
    assert [api.call(who, "GET", "/cameras").status_code for who in ("market", "edge", "anonymous")] == [
        403,
        403,
        401,
    ]

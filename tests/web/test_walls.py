"""The sensor and camera walls: each device with its health, a sensor's newest values and its
curve over the range chosen, a camera's newest alert (refreshed while the page is open) and
today's findings; the camera's analysed frames are test_camera_frames.py's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from hub.store.device_health import HealthChange, store_health
from tests.api.conftest import Api, evidence_file
from tests.hub.feed import HALL
from tests.web.conftest import OPERATOR
from tests.web.pages import sign_in, snapshot


def test_the_sensor_wall_shows_newest_values_health_and_a_curve_over_the_range_chosen(
    hub: Api, page: Page, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [(now - timedelta(minutes=50 - i), -19.0 + i * 0.05) for i in range(40)]  # the last at -11 min
    with hub.hub.db.transaction() as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (time, sensor, metric, value)"
                " VALUES (%s, 'coldstore-temp', 'temperature', %s)",
                readings,
            )
        store_health(conn, [HealthChange(now - timedelta(hours=2), "sensor", "coldstore-temp", "online")])

    sign_in(page, hub, OPERATOR, "/")
    page.locator(".nav-sensors").click()
    card = page.locator(".sensor-coldstore-temp")
    expect(card.locator(".name")).to_have_text("1号冷库温度")
    expect(card.locator(".health")).to_have_text("在线")
    expect(card.locator(".metric-temperature .value")).to_have_text("-17.05 °C")
    expect(card.locator(".resolution")).to_have_text("temperature · 每小时")  # 24 hours by default
    curve = card.locator(".sensor-curve")
    hours = {t.replace(minute=0, second=0) for t, _ in readings}  # one point per hour with readings
    expect(curve).to_have_attribute("data-points", str(len(hours)))
    expect(page.locator(".sensor-dock-humidity .metric-rh .value")).to_have_text("暂无读数")

    page.locator(".range-hour").click()
    expect(card.locator(".resolution")).to_have_text("temperature · 原始读数")
    expect(curve).to_have_attribute("data-points", str(len(readings)))
    page.screenshot(path=tmp_path / "sensors-zh.png", full_page=True)


def test_the_camera_wall_shows_health_the_newest_alert_and_todays_findings(
    hub: Api, page: Page, tmp_path: Path
) -> None:
    with hub.hub.db.transaction() as conn:
        store_health(
            conn,
            [HealthChange(datetime.now(UTC), "camera", "hall-window-1", "frozen", "same frame for 60 s")],
        )
    first = hub.raise_finding(HALL, evidence=[evidence_file(hub, snapshot() + b"first")])["alert_id"]

    sign_in(page, hub, OPERATOR, "/")
    page.locator(".nav-cameras").click()
    card = page.locator(".camera-hall-window-1")
    expect(card.locator(".health")).to_have_text("画面冻结")
    expect(card.locator(".to-alert")).to_have_attribute("href", f"/alert/{first}")

    later = hub.raise_finding(HALL, evidence=[evidence_file(hub, snapshot() + b"later")])["alert_id"]
    expect(card.locator(".to-alert")).to_have_attribute(
        "href", f"/alert/{later}", timeout=15_000
    )  # no reload
    today = {c["id"]: c for c in hub.call("operator", "GET", "/cameras").json()}
    expect(card.locator(".findings")).to_have_text(f"今日发现 {today['hall-window-1']['findings_today']}")
    waiting = page.locator(".camera-hall-waiting")
    expect(waiting.locator(".frame.none")).to_have_text("暂无分析画面")  # GET /cameras/{id}/frame: 404
    page.screenshot(path=tmp_path / "cameras-zh.png", full_page=True)

    card.locator(".to-alert").click()
    expect(page).to_have_url(f"{hub.url}/alert/{later}")

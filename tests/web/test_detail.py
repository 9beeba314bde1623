"""An alert's page: the annotated snapshot, the clip playing, the sensor's curve with the rule's
limit, the trail, the supervision-action record and the clue; acting on it from there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.api.conftest import Api
from tests.hub.feed import GAS
from tests.web.conftest import MARKET, OPERATOR
from tests.web.pages import clip, sign_in, snapshot


def _gas_alert_with_evidence_and_readings(hub: Api) -> int:
    with hub.hub.db.transaction() as conn:
        files = [hub.hub.evidence.register(conn, snapshot(), "image/jpeg")]
        files.append(hub.hub.evidence.register(conn, clip(), "video/mp4"))
        began = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=40)
        with conn.cursor() as cur:  # 5 %LEL for 30 minutes, then 25 from when the alert began
            cur.executemany(
                "INSERT INTO readings (time, sensor, metric, value) VALUES (%s, 'coldstore-gas', 'lel', %s)"
                " ON CONFLICT DO NOTHING",
                [(began + timedelta(seconds=20 * i), 5.0 if i < 3 * 30 else 25.0) for i in range(3 * 40)],
            )
    at = (began + timedelta(minutes=30)).isoformat()
    alert: int = hub.raise_finding(GAS, evidence=files, time=at)["alert_id"]
    return alert


def test_an_alerts_page_shows_its_evidence_curve_trail_record_and_clue(
    hub: Api, page: Page, tmp_path: Path
) -> None:
    alert = _gas_alert_with_evidence_and_readings(hub)
    sign_in(page, hub, OPERATOR, "/")
    page.locator(f".alert-{alert} .to-detail").click()
    expect(page).to_have_url(f"{hub.url}/alert/{alert}")

    snapshot_img = page.locator("img.snapshot")
    expect(snapshot_img).to_be_visible()
    assert page.evaluate("document.querySelector('img.snapshot').naturalWidth") == 160
    page.wait_for_function("document.querySelector('video.clip')?.readyState >= 2", timeout=5000)

    curve = page.locator(".sensor-curve")
    expect(curve).to_have_attribute("data-limits", "20")  # the rule's 20 %LEL, drawn as a line
    assert int(curve.get_attribute("data-points") or 0) >= 40  # 30 minutes before and the 10 since
    assert curve.locator("canvas").count() == 1

    expect(page.locator(".trail")).to_contain_text("rule:coldstore-gas-high")
    expect(page.locator(".records")).to_contain_text("发现问题")
    expect(page.locator(".clues .clue-status")).to_have_text("待认领")
    page.evaluate("document.fonts.ready")  # the glyphs' slices, fetched as they are needed
    page.screenshot(path=tmp_path / "alert-zh.png", full_page=True)

    page.locator(".do-acknowledge").click()
    expect(page.locator(".alert-status")).to_have_text("已确认")
    assert hub.call("operator", "GET", f"/alerts/{alert}").json()["status"] == "acknowledged"
    expect(page.locator(".trail")).to_contain_text("operator:session:duty")  # whose session it was


def test_a_department_sees_its_alert_without_actions_or_records(hub: Api, page: Page) -> None:
    alert = hub.raise_finding(GAS, evidence=[])["alert_id"]
    sign_in(page, hub, MARKET, "/board")
    page.goto(f"{hub.url}/alert/{alert}")
    expect(page.locator(".clues .clue-status")).to_have_text("待认领")
    expect(page.locator(".alert-status")).to_have_text("待处理")
    assert page.locator(".do-acknowledge, .do-dismiss, .do-close, .records").count() == 0

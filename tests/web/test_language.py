"""Chinese by default, English on the switch, remembered across a reload; times in the
deployment's zone whatever the browser's; a screenshot of every page in both languages."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import Api
from tests.hub.feed import GAS
from tests.web.conftest import MARKET, OPERATOR
from tests.web.pages import sign_in

# What each page's heading says in each language, and where the role reaches it.
HEADINGS = {"zh-CN": ("告警墙", "态势总览", "告警详情"), "en": ("Alert wall", "Overview", "Alert")}
WALLS = {
    "zh-CN": {"camera-wall": "摄像头", "sensor-wall": "传感器"},
    "en": {"camera-wall": "Cameras", "sensor-wall": "Sensors"},
}


def _shoot(page: Page, path: Path) -> None:
    expect(page.locator(".el-loading-mask")).to_have_count(0)  # the page's data is in
    page.evaluate("document.fonts.ready")  # the glyphs' slices, fetched as they are needed
    page.screenshot(path=path, full_page=True, animations="disabled")


def test_the_dashboard_speaks_english_on_the_switch_with_times_in_the_deployments_zone(
    hub: Api, browser: Browser, tmp_path: Path
) -> None:
    alert = hub.raise_finding(GAS, evidence=[])
    seen = hub.call("operator", "GET", f"/alerts/{alert['alert_id']}").json()["first_seen"]
    local = datetime.fromisoformat(seen).astimezone(hub.hub.config.deployment.tz)
    # The browser's clock is New York's: what the page shows is Shanghai's, the deployment's.
    page = browser.new_context(locale="zh-CN", timezone_id="America/New_York").new_page()
    page.goto(f"{hub.url}/login")
    _shoot(page, tmp_path / "sign-in-zh.png")
    sign_in(page, hub, OPERATOR, "/")
    row = page.locator(f".alert-{alert['alert_id']}")
    expect(row.locator(".first-seen")).to_have_text(local.strftime("%Y-%m-%d %H:%M:%S"))
    expect(page.locator(".zone")).to_contain_text("Asia/Shanghai (UTC+08:00)")
    expect(row.locator(".alert-status")).to_have_text("待处理")

    page.locator(".language").click()
    expect(page.locator("h1")).to_have_text("Alert wall")
    expect(row.locator(".alert-status")).to_have_text("Open")
    expect(page.locator(".live")).to_have_text("Live")
    expect(page.locator(".zone")).to_have_text("Times in Asia/Shanghai (UTC+08:00)")
    expect(row.locator(".first-seen")).to_have_text(local.strftime("%Y-%m-%d %H:%M:%S"))
    page.reload()  # remembered
    expect(page.locator("h1")).to_have_text("Alert wall")
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.locator(".filter-site .el-select__placeholder")).to_have_text("All")
    page.locator(".filter-time").click()  # Element Plus's own words follow
    expect(page.locator(".el-picker-panel__footer").last).to_contain_text("OK")
    page.keyboard.press("Escape")

    for locale in ("en", "zh-CN"):
        if locale == "zh-CN":
            page.locator(".language").click()
        wall, overview, detail = HEADINGS[locale]
        page.goto(f"{hub.url}/")
        expect(page.locator("h1")).to_have_text(wall)
        _shoot(page, tmp_path / f"wall-{locale}.png")
        page.goto(f"{hub.url}/overview")
        expect(page.locator("h1")).to_have_text(overview)
        expect(page.locator(".per-hour")).to_have_attribute("data-ready", "true")
        _shoot(page, tmp_path / f"overview-{locale}.png")
        for path, heading in WALLS[locale].items():
            page.goto(f"{hub.url}/{path}")
            expect(page.locator("h1")).to_have_text(heading)
            _shoot(page, tmp_path / f"{path}-{locale}.png")
        page.goto(f"{hub.url}/alert/{alert['alert_id']}")
        expect(page.locator("h1")).to_have_text(detail)
        _shoot(page, tmp_path / f"alert-{locale}.png")
    expect(page.locator(".alert-status")).to_have_text("待处理")  # back in Chinese

    board = browser.new_context(locale="zh-CN").new_page()
    sign_in(board, hub, MARKET, "/board")
    expect(board.locator("h1")).to_have_text("风险线索处置")
    _shoot(board, tmp_path / "board-zh-CN.png")
    board.locator(".language").click()
    expect(board.locator("h1")).to_have_text("Risk clues")
    expect(board.locator(".clue-status").first).not_to_contain_text("待")
    _shoot(board, tmp_path / "board-en.png")
    board.get_by_role("button", name="Sign out").click()
    expect(board.locator("button.submit")).to_have_text("Sign in")  # the sign-in page follows too
    _shoot(board, tmp_path / "sign-in-en.png")
    board.context.close()
    page.context.close()
    assert len(list(tmp_path.glob("*.png"))) == 14
    print(f"screenshots in {tmp_path}")


def test_the_deployments_language_is_the_default_and_the_users_own_switch_wins(
    hub: Api, browser: Browser
) -> None:
    loaded = hub.hub.config
    english = loaded.deployment.model_copy(update={"language": "en"})
    hub.hub.config = dataclasses.replace(loaded, deployment=english)  # the API reads it per request
    page = browser.new_context(locale="zh-CN").new_page()
    try:
        sign_in(page, hub, OPERATOR, "/")
        expect(page.locator("h1")).to_have_text("Alert wall")  # a Chinese browser, an English deployment
        page.locator(".language").click()
        expect(page.locator("h1")).to_have_text("告警墙")
        page.reload()
        expect(page.locator("h1")).to_have_text(
            "告警墙"
        )  # the user's choice, remembered over the deployment's
    finally:
        hub.hub.config = loaded
        page.context.close()

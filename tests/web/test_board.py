"""A department's clue board: only its own clues, deadlines counted down and overdue ones marked;
claim, handle and feed back with a file, each step in the API and the trail."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import Api
from tests.hub.feed import GAS, HALL
from tests.web.conftest import HALL_OFFICE, MARKET
from tests.web.pages import sign_in, snapshot


def test_a_department_works_its_clue_from_claim_to_feedback_and_no_other_sees_it(
    hub: Api, page: Page, browser: Browser, tmp_path: Path
) -> None:
    late = hub.clue_of(hub.raise_finding(GAS, evidence=[])["alert_id"])
    with hub.hub.db.transaction() as conn:  # issued long ago: its claim deadline has passed
        conn.execute(
            "UPDATE risk_clues SET claim_deadline = now() - interval '2 hours' WHERE id = %s", (late,)
        )
    fresh = hub.clue_of(hub.raise_finding(GAS, evidence=[])["alert_id"])
    theirs = hub.clue_of(hub.raise_finding(HALL)["alert_id"])

    sign_in(page, hub, MARKET, "/board")
    assert page.locator(".nav-wall").count() == 0  # no alert wall for a department
    expect(page.locator(f".clue-{fresh}")).to_be_visible()
    expect(page.locator(f".clue-{late}")).to_have_class(re.compile(r"\boverdue\b"))
    expect(page.locator(f".clue-{late} .countdown")).to_contain_text("已超期 2 小时")
    expect(page.locator(f".clue-{fresh} .countdown")).to_contain_text("还剩")
    assert "overdue" not in (page.locator(f".clue-{fresh}").get_attribute("class") or "")
    assert page.locator(f".clue-{theirs}").count() == 0

    page.locator(f".clue-{fresh} .clue-title").click()
    drawer = page.locator(".clue-drawer")
    drawer.locator(".do-claim").click()
    expect(drawer.locator(".clue-status")).to_have_text("已认领")
    drawer.locator("textarea[name=handle-note]").fill("已电话通知企业，现场关闭阀门")
    drawer.locator(".do-handle").click()
    expect(drawer.locator(".clue-status")).to_have_text("已处办")

    drawer.locator(".do-feedback").click()
    expect(drawer.locator(".feedback-form")).to_contain_text("请选择核查结论")  # validated in Chinese
    expect(drawer.locator(".feedback-form")).to_contain_text("请填写核查与处置情况")
    drawer.get_by_text("属实").click()
    drawer.locator("textarea[name=feedback-text]").fill("现场核查属实，已责令整改")
    photo = tmp_path / "现场照片.jpg"
    photo.write_bytes(snapshot())
    drawer.locator(".attachments input[type=file]").set_input_files(photo)
    drawer.locator(".do-feedback").click()
    expect(drawer.locator(".clue-status")).to_have_text("已反馈")
    expect(page.locator(f".clue-{fresh} .clue-status")).to_have_text("已反馈")

    clue = hub.call("market", "GET", f"/clues/{fresh}").json()
    assert (clue["status"], clue["verdict"], clue["feedback"]) == (
        "fed_back",
        "confirmed",
        "现场核查属实，已责令整改",
    )
    assert len(clue["feedback_evidence"]) == 1
    assert [t["action"] for t in clue["trail"]] == ["issue", "claim", "handle", "feed_back"]
    assert clue["trail"][2]["note"] == "已电话通知企业，现场关闭阀门"
    assert {t["actor"] for t in clue["trail"][1:]} == {"department:session:market-li"}
    expect(drawer.locator(".trail")).to_contain_text("department:session:market-li")
    page.evaluate("document.fonts.ready")  # the glyphs' slices, fetched as they are needed
    page.screenshot(path=tmp_path / "board-zh.png", full_page=True)

    page.goto(f"{hub.url}/")  # the wall is not offered to a department
    expect(page).to_have_url(f"{hub.url}/board")

    other = browser.new_context(locale="zh-CN").new_page()
    sign_in(other, hub, HALL_OFFICE, "/board")
    expect(other.locator(f".clue-{theirs}")).to_be_visible()
    assert other.locator(f".clue-{fresh}, .clue-{late}").count() == 0
    assert hub.call("hall", "GET", f"/clues/{fresh}").status_code == 404
    other.context.close()

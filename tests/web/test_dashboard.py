"""The dashboard in Debian's Chromium (Playwright, launched by its path) against a real hub on
PostgreSQL 15 + TimescaleDB, and the serving of the built files beside the API's routes."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from api.web import NOT_BUILT, Dashboard, serve_dashboard
from tests.api.conftest import Api
from tests.hub.feed import GAS, HALL
from tests.web.conftest import OPERATOR


def test_an_operator_signs_in_watches_the_wall_live_acts_and_signs_out(hub: Api, page: Page) -> None:
    earlier = hub.raise_finding(GAS, evidence=[])["alert_id"]
    page.goto(hub.url)
    expect(page).to_have_url(f"{hub.url}/login?next=/")
    page.locator("input[name=username]").fill(OPERATOR[0])
    page.locator("input[name=password]").fill(OPERATOR[1])
    page.get_by_role("button", name="登录").click()

    expect(page.locator(f".alert-{earlier}")).to_be_visible()
    expect(page.locator(".live")).to_have_text("实时")  # the stream is open from here on

    fresh = hub.raise_finding(HALL)["alert_id"]
    row = page.locator(f".alert-{fresh}")
    expect(row).to_be_visible(timeout=2000)  # live, without a reload
    expect(row.locator(".alert-status")).to_have_text("待处理")
    rows = page.locator(".alert-row")
    assert f"alert-{fresh}" in (rows.first.get_attribute("class") or "")  # newest first

    row.locator(".do-acknowledge").click()
    expect(row.locator(".alert-status")).to_have_text("已确认")
    assert hub.call("operator", "GET", f"/alerts/{fresh}").json()["status"] == "acknowledged"

    gas = page.locator(f".alert-{earlier}")
    gas.locator(".do-dismiss").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="确定").click()
    expect(dialog).to_contain_text("原因不能为空")  # a dismissal needs its reason
    dialog.locator("input").fill("探头受潮，现场核实无泄漏")
    dialog.get_by_role("button", name="确定").click()
    expect(gas.locator(".alert-status")).to_have_text("误报")
    trail = hub.call("operator", "GET", f"/alerts/{earlier}").json()["trail"]
    assert (trail[-1]["action"], trail[-1]["note"]) == ("dismiss", "探头受潮，现场核实无泄漏")

    page.reload()
    expect(page).to_have_url(f"{hub.url}/")
    expect(page.locator(f".alert-{fresh} .alert-status")).to_have_text("已确认")
    token = page.evaluate("JSON.parse(localStorage.getItem('offsite.session')).token")

    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(f"{hub.url}/login")
    assert page.evaluate("localStorage.getItem('offsite.session')") is None
    revoked = hub.call("anonymous", "GET", "/alerts", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401


def _client(dist: Path) -> Callable[..., httpx.Response]:
    """A request function on an app with one API route and the dashboard in `dist`."""
    app = FastAPI()

    @app.get("/alerts/{alert_id}")
    def alert(alert_id: int) -> dict[str, int]:
        return {"id": alert_id}

    serve_dashboard(app, dist)

    def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                return await client.request(method, path, **kwargs)

        # A thread of its own: Playwright's sync API holds an event loop in this one.
        with ThreadPoolExecutor(1) as thread:
            return thread.submit(anyio.run, send).result()

    return request


HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_the_built_files_are_served_beside_the_api_and_never_over_it(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<div id=app></div>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    request = _client(tmp_path)

    assert request("GET", "/").text == "<div id=app></div>"
    assert request("GET", "/login", headers=HTML).text == "<div id=app></div>"  # a client route
    asset = request("GET", "/assets/index-abc.js")
    assert asset.text == "console.log(1)" and "immutable" in asset.headers["cache-control"]
    assert request("GET", "/alerts/7", headers=HTML).json() == {"id": 7}
    assert request("GET", "/alerts/7/x", headers=HTML).json() == {"detail": "Not Found"}  # the API's 404
    assert request("POST", "/alerts/7").status_code == 405  # a wrong method stays the API's answer
    assert request("GET", "/nothing.js").status_code == 404  # not a page: no index.html for scripts


def test_without_a_build_the_root_says_how_to_build(tmp_path: Path) -> None:
    answer = _client(tmp_path / "missing")("GET", "/", headers=HTML)
    assert answer.status_code == 404
    assert answer.text == NOT_BUILT and "scripts/web.sh" in answer.text


def test_no_file_outside_the_build_is_served(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<div id=app></div>")
    (tmp_path / "secret.txt").write_text("secret")
    dashboard = Dashboard(tmp_path / "dist", [], not_found=FastAPI())
    scope = {"type": "http", "method": "GET", "path": "/../secret.txt", "headers": []}
    assert dashboard.response(scope) is None  # clients normalise such paths; the hub does not rely on it

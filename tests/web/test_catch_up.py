"""The wall across a restart of the API under the open page: once the API is back, what changed
while it was down is on the wall, nothing missing and nothing twice."""

from __future__ import annotations

import socket

from playwright.sync_api import Page, expect

from hub.host import free_port
from tests.api.conftest import Api, running
from tests.hub.feed import GAS, HALL
from tests.web.conftest import OPERATOR
from tests.web.pages import sign_in_at


def _listening_on(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the last run's connections linger
    sock.bind(("127.0.0.1", port))
    return sock


def test_the_wall_catches_up_on_what_changed_while_the_api_was_down(hub: Api, page: Page) -> None:
    port = free_port()
    with running(hub.hub, _listening_on(port)) as url:
        sign_in_at(page, url, OPERATOR, "/")
        expect(page.locator(".live")).to_have_text("实时")
        seen = hub.raise_finding(GAS, evidence=[])["alert_id"]  # through another API process
        expect(page.locator(f".alert-{seen} .alert-status")).to_have_text("待处理")
    expect(page.locator(".live")).to_have_text("重连中")

    # While the page's API is down, another changes the store.
    assert hub.call("operator", "POST", f"/alerts/{seen}/acknowledge", json={}).status_code == 200
    missed = [hub.raise_finding(HALL)["alert_id"] for _ in range(3)]

    with running(hub.hub, _listening_on(port)):
        expect(page.locator(".live")).to_have_text("实时", timeout=15_000)
        expect(page.locator(f".alert-{seen} .alert-status")).to_have_text("已确认")
        for alert in missed:
            expect(page.locator(f".alert-{alert}")).to_have_count(1)
        shown = page.locator(".alert-row").evaluate_all("rows => rows.map(r => r.className)")
        ids = [c for row in shown for c in row.split() if c.startswith("alert-") and c[6:].isdigit()]
        assert len(ids) == len(set(ids))  # nothing twice
        open_now = hub.call("operator", "GET", "/alerts/counts").json()["open"]
        expect(page.locator(".count-open")).to_have_text(f"待处理 {open_now}")

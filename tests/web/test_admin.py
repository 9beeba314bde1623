"""The administrator's part: dead letters of the outputs sent again from the admin page, and a
fed-back clue closed or sent back to its department from the clue board."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from api.auth import create_user
from hub.config.outputs import Webhook
from hub.delivery import Deliverer, destinations
from hub.host import free_port
from tests.api.conftest import Api, serve
from tests.conftest import Server
from tests.hub.feed import GAS
from tests.hub.receiver import SECRET
from tests.web.pages import sign_in

ADMIN = ("chief", "admin password 1")


@pytest.fixture(scope="module")
def own(timescaledb_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A hub of its own: its outbox holds only this module's changes, so its dead letters are few."""
    with serve(timescaledb_server, tmp_path_factory.mktemp("admin")) as api:
        with api.hub.db.transaction() as conn:
            create_user(conn, *ADMIN, "admin", datetime.now(UTC))
        yield api


def _fed_back(api: Api) -> int:
    clue = api.clue_of(api.raise_finding(GAS, evidence=[])["alert_id"])
    market = api.client("market")
    assert market.post(f"/clues/{clue}/claim").status_code == 200
    assert market.post(f"/clues/{clue}/handle", json={"note": "关阀通风"}).status_code == 200
    fed = market.post(f"/clues/{clue}/feedback", data={"verdict": "confirmed", "text": "属实，已整改"})
    assert fed.status_code == 200, fed.text
    return clue


def test_an_admin_sends_a_dead_letter_again_and_closes_or_sends_back_clues(
    own: Api, page: Page, tmp_path: Path
) -> None:
    refused = Webhook(  # nothing listens on its port
        id="province",
        kind="webhook",
        url=f"http://127.0.0.1:{free_port()}/hooks",
        secret_env="OFFSITE_TEST_HOOK",
        kinds=["alert"],
        max_attempts=1,
        timeout=2.0,
    )
    deployment = own.hub.config.deployment.model_copy(update={"outputs": [refused]})
    deliverer = Deliverer(
        own.hub.db, destinations(deployment, {"OFFSITE_TEST_HOOK": SECRET}), own.hub.pipeline.clock
    )
    back, done = _fed_back(own), _fed_back(own)
    assert deliverer.round().dead >= 1
    dead = own.call("admin", "GET", "/outputs/dead").json()[0]

    sign_in(page, own, ADMIN, "/")
    page.locator(".nav-admin").click()
    row = page.locator(f".dead-{dead['id']}")
    expect(row.locator(".last-error")).to_contain_text("Connection refused")
    row.locator(".do-retry").click()
    expect(row).to_have_count(0)
    assert dead["id"] not in {d["id"] for d in own.call("admin", "GET", "/outputs/dead").json()}
    page.screenshot(path=tmp_path / "admin-zh.png", full_page=True)

    page.locator(".nav-board").click()
    expect(page.locator(f".clue-{back} .clue-department")).to_have_text("临潼区市场监督管理局")
    page.locator(f".clue-{back} .clue-title").click()
    drawer = page.locator(".clue-drawer")
    drawer.locator(".do-reopen").click()
    dialog = page.locator(".el-message-box")
    dialog.get_by_role("button", name="确定").click()
    expect(dialog).to_contain_text("退回原因不能为空")
    dialog.locator("input").fill("照片模糊，请补充现场照片")
    dialog.get_by_role("button", name="确定").click()
    expect(drawer.locator(".clue-status")).to_have_text("已认领")
    expect(drawer.locator(".trail")).to_contain_text("退回重办")
    trail = own.call("admin", "GET", f"/clues/{back}").json()["trail"]
    assert (trail[-1]["action"], trail[-1]["note"], trail[-1]["actor"]) == (
        "reopen",
        "照片模糊，请补充现场照片",
        "admin:session:chief",
    )

    page.keyboard.press("Escape")
    page.locator(f".clue-{done} .clue-title").click()
    drawer.locator(".do-close").click()
    expect(drawer.locator(".clue-status")).to_have_text("已办结")
    assert own.call("admin", "GET", f"/clues/{done}").json()["status"] == "closed"

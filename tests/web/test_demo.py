"""`offsite demo` leaves its dashboard open: after the scenario it serves the API and the built
dashboard on 127.0.0.1, prints the address and the demo logins drawn for this run, its cameras
go on analysing their clips in a loop, and it serves until Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, expect
from psycopg.conninfo import make_conninfo

from hub.host import free_port, wait_for
from offsite.demo import DEMO_DATABASE
from tests.conftest import REPO, Server
from tests.web.pages import sign_in_at

LOGIN = re.compile(r"sign in as (\w+)(?: \((\w+)\))?: (\S+) / (\S+)")


class Demo:
    """`offsite demo` running in its own process, its output collected line by line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout
        self.reader = threading.Thread(target=lambda: self.lines.extend(stdout), daemon=True)
        self.reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def url(self) -> str | None:
        found = re.search(r"Dashboard (http://127\.0\.0\.1:\d+)/", self.output)
        return found[1] if found else None

    def logins(self) -> dict[str, tuple[str, str]]:
        return {m[1]: (m[3], m[4]) for m in LOGIN.finditer(self.output)}


@pytest.fixture
def demo(timescaledb_server: Server, tmp_path: Path) -> Iterator[Demo]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OFFSITE_")}
    env = {
        **base,
        "PYTHONPATH": str(REPO),
        "NO_COLOR": "1",
        "OFFSITE_DATABASE_URL": timescaledb_server.dsn,  # the demo makes its own database there
        "OFFSITE_DATA_DIR": str(tmp_path / "data"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "offsite.cli", "demo", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Demo(process)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _camera_events(server: Server) -> int:
    with psycopg.connect(make_conninfo(server.dsn, dbname=DEMO_DATABASE)) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE source LIKE 'camera:%'").fetchone()
    return int(row[0]) if row else 0


def test_the_demo_serves_its_dashboard_with_its_alerts_until_interrupted(
    demo: Demo, browser: Browser, timescaledb_server: Server
) -> None:
    wait_for(
        lambda: len(demo.logins()) == 2 or demo.process.poll() is not None,
        240,
        0.2,
        "the demo printed no dashboard address and logins",
    )
    url, logins = demo.url(), demo.logins()
    assert url is not None and set(logins) == {"operator", "department"}, demo.output
    assert logins["operator"][1] != logins["department"][1]  # drawn, not a fixed password
    analysed = _camera_events(timescaledb_server)

    with httpx.Client(base_url=url, timeout=10) as api:
        username, password = logins["operator"]
        token = api.post("/auth/login", json={"username": username, "password": password}).json()
        alerts = api.get("/alerts", headers={"Authorization": f"Bearer {token['token']}"}).json()["items"]
    rules = {a["rule"]: a for a in alerts}
    assert {"window-absence", "hall-queue", "coldstore-gas-high", "coldstore-too-warm"} <= set(rules)

    operator = browser.new_context(locale="zh-CN").new_page()
    sign_in_at(operator, url, logins["operator"], "/")
    for alert in alerts:
        expect(operator.locator(f".alert-{alert['id']}")).to_be_visible()
    # The sensors' alerts as the scenario left them (the cameras' go on changing while it serves).
    expect(operator.locator(f".alert-{rules['coldstore-gas-high']['id']} .alert-status")).to_have_text(
        "已关闭"
    )
    expect(operator.locator(f".alert-{rules['coldstore-too-warm']['id']} .alert-status")).to_have_text(
        "待处理"
    )
    expect(operator.locator(".live")).to_have_text("实时")
    # The camera wall shows each camera's latest analysed frame (the looping clips renew them).
    operator.locator(".nav-cameras").click()
    for camera in ("hall-window-1", "hall-waiting"):
        expect(operator.locator(f".camera-{camera} img.frame")).to_be_visible(timeout=20_000)
    operator.context.close()

    department = browser.new_context(locale="zh-CN").new_page()
    sign_in_at(department, url, logins["department"], "/board")
    expect(department.locator(".clue-status", has_text="已反馈")).to_have_count(1)  # the gas clue
    department.context.close()

    # The demo's cameras play their clips again while it serves: their findings keep coming.
    wait_for(
        lambda: _camera_events(timescaledb_server) > analysed, 90, 0.5, "no camera finding while serving"
    )

    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=60) == 0, demo.output
    demo.reader.join(timeout=10)
    assert "Dashboard stopped" in demo.output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=5)

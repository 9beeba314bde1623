"""The dashboard's browser tests share one hub (PostgreSQL 15 + TimescaleDB) serving the built
files, with a dashboard login per role, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from api.auth import create_user
from api.web import DIST
from tests.api.conftest import Api, serve
from tests.conftest import Server

CHROMIUM = Path("/usr/bin/chromium")
OPERATOR = ("duty", "correct horse battery staple")
MARKET = ("market-li", "market password 1")  # the department the cold store's findings go to
HALL_OFFICE = ("hall-wang", "hall password 1")


@pytest.fixture(scope="session")
def hub(timescaledb_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API serving the built dashboard, with a dashboard login for an operator and for two
    departments."""
    if not (DIST / "index.html").is_file():
        pytest.fail("the dashboard is not built: run scripts/web.sh")
    with serve(timescaledb_server, tmp_path_factory.mktemp("web")) as api:
        with api.hub.db.transaction() as conn:
            create_user(conn, *OPERATOR, "operator", datetime.now(UTC))
            create_user(conn, *MARKET, "department", datetime.now(UTC), department="market")
            create_user(conn, *HALL_OFFICE, "department", datetime.now(UTC), department="hall-office")
        yield api


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():  # a failure, not a skip: scripts/install-services.sh installs it
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN")
    yield context.new_page()
    context.close()

"""The overview: alerts per hour by severity over the deployment's last 24 hours, open clues per
department, and the week's alerts and false alarms per site and rule, drawn with ECharts from
what GET /alerts, GET /clues and GET /statistics answer."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import Api
from tests.hub.feed import GAS, HALL, WARM
from tests.web.conftest import MARKET, OPERATOR
from tests.web.pages import sign_in


def _every(hub: Api, path: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = hub.call(
            "operator",
            "GET",
            path,
            params={**params, "limit": "200", **({"cursor": cursor} if cursor else {})},
        )
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def _expected(hub: Api) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """What the charts should show, read from the API: alerts first seen since the start of the
    hour 23 hours before the deployment's current one, by severity; open and overdue clues."""
    tz = hub.hub.config.deployment.tz
    start = datetime.now(tz).replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    alerts = Counter(a["severity"] for a in _every(hub, "/alerts", since=start.isoformat()))
    per_severity = {s: alerts[s] for s in ("critical", "major", "minor", "info")}
    clues = [c for status in ("issued", "claimed", "handled") for c in _every(hub, "/clues", status=status)]
    departments = {c["department"] for c in clues}
    loads = {
        d: (
            sum(c["department"] == d for c in clues),
            sum(c["department"] == d and bool(c["overdue"]) for c in clues),
        )
        for d in departments
    }
    return per_severity, loads


def test_the_overview_draws_alerts_per_hour_by_severity_and_open_clues_per_department(
    hub: Api, page: Page, browser: Browser
) -> None:
    hub.raise_finding(GAS, evidence=[])  # critical, a clue for the market department
    hub.raise_finding(WARM, evidence=[])  # major
    hall = hub.raise_finding(HALL)["alert_id"]  # minor, a clue for the hall's office
    late = hub.clue_of(hall)
    dismissed = hub.call(
        "operator", "POST", f"/alerts/{hall}/dismiss", json={"note": "a visitor at the window"}
    )
    assert dismissed.status_code == 200, dismissed.text
    with hub.hub.db.transaction() as conn:
        conn.execute(
            "UPDATE risk_clues SET claim_deadline = now() - interval '1 hour' WHERE id = %s", (late,)
        )
    per_severity, loads = _expected(hub)
    assert per_severity["critical"] >= 1 and per_severity["major"] >= 1 and per_severity["minor"] >= 1
    assert loads["hall-office"][1] >= 1

    sign_in(page, hub, OPERATOR, "/")
    page.locator(".nav-overview").click()
    expect(page).to_have_url(f"{hub.url}/overview")
    hours = page.locator(".per-hour")
    expect(hours).to_have_attribute("data-ready", "true")
    shown = dict(part.split(":") for part in (hours.get_attribute("data-totals") or "").split(","))
    assert {s: int(n) for s, n in shown.items()} == per_severity
    drawn = page.locator(".per-department").get_attribute("data-loads") or ""
    assert {d: (int(o), int(v)) for d, o, v in (part.split(":") for part in drawn.split(","))} == loads
    today = datetime.now(hub.hub.config.deployment.tz).date()
    week = {"from": str(today - timedelta(days=6)), "to": str(today)}
    figures = hub.call("operator", "GET", "/statistics", params=week).json()["alerts"]
    per_rule = {f"{f['site']}/{f['rule']}": (f["alerts"], f["dismissed"]) for f in figures if f["alerts"]}
    assert per_rule[f"{HALL['site']}/{HALL['rule']}"][1] >= 1  # the false alarm above
    drawn = page.locator(".per-rule").get_attribute("data-loads") or ""
    assert {r: (int(a), int(d)) for r, a, d in (part.split(":") for part in drawn.split(","))} == per_rule
    expect(page.locator(".overview")).to_contain_text(f"{week['from']} 至 {week['to']}")
    assert page.locator(".overview canvas").count() == 3  # every chart drawn

    department = browser.new_context(locale="zh-CN").new_page()
    sign_in(department, hub, MARKET, "/board")
    assert department.locator(".nav-overview").count() == 0  # the overview is the duty room's
    department.goto(f"{hub.url}/overview")
    expect(department).to_have_url(f"{hub.url}/board")
    department.context.close()

"""GET /statistics through the served API: figures after real findings, a claim and the hub's tick;
each caller's scope (a department reads only its own figures); bad periods and departments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.api.conftest import Api
from tests.conftest import Clock
from tests.hub.feed import GAS, HALL

NONE_FALSE = {"dismissed": 0, "false_alarms": 0, "false_share": 0.0}
COLDSTORE = {"site": "lintong-coldstore", "rule": "coldstore-gas-high", "alerts": 2, **NONE_FALSE}
HALL_ALERTS = {"site": "lintong-hall", "rule": "window-absence", "alerts": 1, **NONE_FALSE}
GAS_ITEM, HALL_ITEM = "61011500200011", "61011500100001"


def figures(api: Api, who: str, **params: str) -> dict[str, Any]:
    answer = api.call(who, "GET", "/statistics", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def period_rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The whole-period figures per department."""
    return {row["department"]: row for row in body["clues"] if row["bucket"] is None}


def test_figures_after_a_claim_and_an_escalation_for_each_caller(api: Api) -> None:
    claimed = api.clue_of(api.raise_finding(GAS)["alert_id"])
    assert api.call("market", "POST", f"/clues/{claimed}/claim").status_code == 200
    left = api.clue_of(api.raise_finding(GAS)["alert_id"])  # nobody claims this one
    api.raise_finding(HALL)
    real = api.hub.pipeline.clock
    later = Clock(real() + timedelta(minutes=31))  # past the market clues' 30-minute claim deadline
    api.hub.pipeline.clock = later
    try:
        api.hub.upkeep(later())
        trail = api.call("market", "GET", f"/clues/{left}").json()["trail"]
        assert [(t["action"], t["actor"]) for t in trail[-1:]] == [("remind", "system:escalation")]
        day = (later() - timedelta(minutes=31)).astimezone(ZoneInfo("Asia/Shanghai")).date()
        period = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}

        every = figures(api, "admin", **period)
        market = period_rows(every)["market"]
        assert {k: market[k] for k in ("received", "claimed_in_time", "answered_in_time", "overdue")} == {
            "received": 2,
            "claimed_in_time": 1,
            "answered_in_time": 0,
            "overdue": 1,
        }
        assert (market["escalated"], market["open"], market["answer_p50"]) == (0, 2, None)  # no supervisor
        assert 0 <= market["claim_p50"] == market["claim_p90"] < 60
        hall = period_rows(every)["hall-office"]
        assert (hall["received"], hall["overdue"], hall["escalated"], hall["open"]) == (1, 0, 0, 1)
        assert every["alerts"] == [COLDSTORE, HALL_ALERTS]
        assert [(s["source"], s["alerts"]) for s in every["sources"]] == [
            ("sensor:coldstore-gas", 2),
            ("camera:hall-window-1", 1),
        ]
        assert [(r["item_code"], r["records"]) for r in every["records"]] == [(HALL_ITEM, 1), (GAS_ITEM, 2)]
        assert (every["timezone"], every["department"], every["bucket"]) == ("Asia/Shanghai", None, "day")
        assert figures(api, "operator", **period) == every

        own = figures(api, "market", **period)
        assert own == figures(api, "market", department="market", **period)
        assert (period_rows(own), own["alerts"], own["department"]) == (
            {"market": market},
            [COLDSTORE],
            "market",
        )
        assert [s["source"] for s in own["sources"]] == ["sensor:coldstore-gas"]
        assert [r["item_code"] for r in own["records"]] == [GAS_ITEM]
        assert list(period_rows(figures(api, "hall", **period))) == ["hall-office"]
    finally:
        api.hub.pipeline.clock = real

    foreign = api.call("market", "GET", "/statistics", params={"department": "hall-office"})
    assert foreign.status_code == 403
    assert foreign.json()["detail"][0]["loc"] == ["query", "department"]
    assert api.call("edge", "GET", "/statistics").status_code == 403
    assert api.call("anonymous", "GET", "/statistics").status_code == 401


@pytest.mark.parametrize(
    ("params", "loc", "message"),
    [
        (
            {"from": "2026-11-24", "to": "2026-11-23"},
            ["query", "from"],
            "from (2026-11-24) is after to (2026-11-23)",
        ),
        ({"from": "2020-01-01", "to": "2026-11-23"}, ["query", "from"], "is over 1098 days"),
        ({"from": "2026-13-01"}, ["query", "from"], "date"),
        ({"bucket": "year"}, ["query", "bucket"], "'day', 'week' or 'month'"),
        ({"department": "police"}, ["query", "department"], "no department 'police'"),
    ],
)
def test_bad_periods_and_departments_are_named(
    api: Api, params: dict[str, str], loc: list[str], message: str
) -> None:
    answer = api.call("admin", "GET", "/statistics", params=params)
    assert answer.status_code == 422, answer.text
    error = answer.json()["detail"][0]
    assert error["loc"] == loc and message in error["msg"], error

"""What the dashboard reads besides the lists: who is calling, an alert's records and clues, and
the sensor curve around a sensor alert from the rollups, each with the role rules of the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.store.rollups import refresh_rollups
from tests.api.conftest import Api
from tests.hub.feed import WARM


@pytest.mark.parametrize(
    ("who", "role", "department", "site"),
    [
        ("admin", "admin", None, None),
        ("operator", "operator", None, None),
        ("market", "department", "market", None),
        ("edge", "edge", None, "lintong-coldstore"),
    ],
)
def test_me_says_the_role_and_scope_of_the_token(
    api: Api, who: str, role: str, department: str | None, site: str | None
) -> None:
    me = api.call(who, "GET", "/auth/me").json()
    assert (me["name"], me["role"], me["department"], me["site"]) == (who, role, department, site)
    assert (me["session"], me["timezone"]) == (False, "Asia/Shanghai")


def test_me_needs_a_token(api: Api) -> None:
    assert api.call("anonymous", "GET", "/auth/me").status_code == 401


def test_an_alerts_detail_carries_its_records_and_clues_as_far_as_the_caller_may_see(
    api: Api, market_alert: int
) -> None:
    staff = api.call("operator", "GET", f"/alerts/{market_alert}").json()
    assert [r["alert_id"] for r in staff["records"]] == [market_alert]
    assert [(c["alert_id"], c["department"]) for c in staff["clues"]] == [(market_alert, "market")]
    assert staff["clues"][0]["overdue"] is None

    market = api.call("market", "GET", f"/alerts/{market_alert}").json()
    assert market["records"] == []  # records are the duty platform's, as GET /records says
    assert [c["id"] for c in market["clues"]] == [c["id"] for c in staff["clues"]]
    assert api.call("hall", "GET", f"/alerts/{market_alert}").status_code == 404


def _readings(api: Api, rows: list[tuple[datetime, float]]) -> None:
    with api.hub.db.transaction() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, sensor, metric, value) VALUES (%s, 'coldstore-temp',"
            " 'temperature', %s) ON CONFLICT DO NOTHING",
            rows,
        )


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def test_a_sensor_alerts_curve_comes_from_the_rollups_topped_up_with_fresh_readings(api: Api) -> None:
    now = datetime.now(UTC)
    began = _minute(now) - timedelta(minutes=20)
    # Two readings a minute for the last 70 minutes: -20 until the alert began, then -10 and -14.
    _readings(api, [(began - timedelta(minutes=50) + timedelta(seconds=30 * i), -20.0) for i in range(100)])
    _readings(
        api,
        [
            (began + timedelta(minutes=m, seconds=s), v)
            for m in range(20)
            for s, v in ((0, -10.0), (30, -14.0))
        ],
    )
    with api.hub.db.transaction() as conn:  # rolled up to 10 minutes ago; the rest is fresh
        refresh_rollups(conn, began - timedelta(hours=2), began + timedelta(minutes=10))
        conn.execute(  # a rollup that disagrees with its rows shows which one the curve took
            "UPDATE readings_1m SET sum = count * -30.0 WHERE time = %s", (began - timedelta(minutes=25),)
        )
    alert = api.raise_finding(WARM, time=(began + timedelta(seconds=5)).isoformat(), evidence=[])["alert_id"]

    curve: dict[str, Any] = api.call("operator", "GET", f"/alerts/{alert}/curve").json()
    assert (curve["sensor"], curve["metric"], curve["unit"]) == ("coldstore-temp", "temperature", "degC")
    assert (curve["above"], curve["below"], curve["resolution"]) == (-18.0, None, "1m")
    points = {datetime.fromisoformat(p["time"]): p for p in curve["points"]}
    assert min(points) == began - timedelta(
        minutes=30
    )  # the whole minute  # from 30 minutes before the alert
    assert max(points) == began + timedelta(minutes=19)  # to the last reading, past the rollups
    assert (
        len(curve["points"]) == len(points) == 50
    )  # every minute once: no bucket from both the rollup and the rows
    assert points[began - timedelta(minutes=25)]["mean"] == -30.0  # the rollup's, not the rows'
    assert points[began - timedelta(minutes=1)]["mean"] == -20.0
    assert [points[began + timedelta(minutes=m)]["mean"] for m in (0, 15)] == [-12.0, -12.0]
    assert (points[began + timedelta(minutes=15)]["min"], points[began]["max"]) == (-14.0, -10.0)
    with api.hub.db.transaction() as conn:
        rolled = conn.execute("SELECT count(*) FROM readings_1m WHERE time >= %s", (began,)).fetchone()
    assert rolled is not None and 0 < rolled[0] < 20  # the fresh minutes really were not rolled up

    market = api.call("market", "GET", f"/alerts/{alert}/curve")
    hall = api.call("hall", "GET", f"/alerts/{alert}/curve")
    assert (market.status_code, hall.status_code) == (200, 404)  # the clue went to market


def test_an_alert_without_a_sensor_metric_has_no_curve(api: Api, hall_alert: int) -> None:
    answer = api.call("operator", "GET", f"/alerts/{hall_alert}/curve")
    assert answer.status_code == 404
    assert "watches no sensor metric" in answer.json()["detail"]

"""Sensors for people: each sensor with its newest values and health, and a metric over any range
(raw, per minute, per hour), with the role rules of the rest of the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.routers import readings as sensors_router
from hub.store.device_health import HealthChange, store_health
from hub.store.rollups import refresh_rollups
from tests.api.conftest import Api

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # a past morning: no other test's readings there


def _store(api: Api, sensor: str, metric: str, rows: list[tuple[datetime, float]]) -> None:
    with api.hub.db.transaction() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, sensor, metric, value) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            [(t, sensor, metric, v) for t, v in rows],
        )


def test_the_sensor_list_carries_units_newest_values_and_health(api: Api) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    _store(
        api,
        "coldstore-temp",
        "temperature",
        [(now - timedelta(minutes=2), -19.0), (now - timedelta(minutes=1), -18.5)],
    )
    with api.hub.db.transaction() as conn:
        changes = [
            HealthChange(
                now - timedelta(hours=1), "sensor", "coldstore-temp", "offline", "no reading for 5 min"
            ),
            HealthChange(now - timedelta(minutes=2), "sensor", "coldstore-temp", "online"),
        ]
        store_health(conn, changes)

    sensors = api.call("operator", "GET", "/sensors").json()
    assert [s["id"] for s in sensors] == ["coldstore-temp", "coldstore-gas", "dock-humidity"]  # as configured
    temp = sensors[0]
    assert (temp["name"], temp["site"], temp["kind"], temp["interval"]) == (
        "1号冷库温度",
        "lintong-coldstore",
        "temperature",
        30.0,
    )
    [metric] = temp["metrics"]
    assert (metric["name"], metric["unit"], metric["min"], metric["max"]) == (
        "temperature",
        "degC",
        -60.0,
        60.0,
    )
    assert metric["latest"]["value"] == -18.5
    assert datetime.fromisoformat(metric["latest"]["time"]) == now - timedelta(minutes=1)
    assert temp["health"]["status"] == "online"
    assert datetime.fromisoformat(temp["health"]["since"]) == now - timedelta(minutes=2)


def test_a_department_sees_the_sensors_of_the_sites_its_clues_come_from(
    api: Api, market_alert: int, hall_alert: int
) -> None:
    # market's clue comes from the cold store (a gas alert); the hall office's from the hall,
    # which has no sensors
    assert {s["site"] for s in api.call("market", "GET", "/sensors").json()} == {"lintong-coldstore"}
    assert api.call("hall", "GET", "/sensors").json() == []
    answer = api.call("hall", "GET", "/sensors/coldstore-temp/readings")
    assert answer.status_code == 404, answer.text
    assert api.call("market", "GET", "/sensors/coldstore-temp/readings").status_code == 200
    assert api.call("edge", "GET", "/sensors").status_code == 403
    assert api.call("anonymous", "GET", "/sensors").status_code == 401


def _range(api: Api, start: datetime, end: datetime, **params: str) -> dict[str, object]:
    answer = api.call(
        "operator",
        "GET",
        "/sensors/dock-humidity/readings",
        params={"start": start.isoformat(), "end": end.isoformat(), **params},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_a_range_comes_raw_per_minute_or_per_hour_by_its_length(api: Api) -> None:
    # one reading every 20 s for 26 hours: 40, 50, 60 in turn
    _store(
        api,
        "dock-humidity",
        "rh",
        [(T0 + timedelta(seconds=20 * i), 40.0 + 10 * (i % 3)) for i in range(26 * 180)],
    )
    with api.hub.db.transaction() as conn:  # the first half rolled up, the rest topped up from the readings
        refresh_rollups(conn, T0, T0 + timedelta(hours=13))

    raw = _range(api, T0 + timedelta(minutes=10), T0 + timedelta(minutes=11))
    assert (raw["resolution"], raw["unit"], raw["metric"]) == ("raw", "%", "rh")
    assert [(p["mean"], p["min"], p["max"]) for p in raw["points"]] == [
        (40.0, 40.0, 40.0),
        (50.0, 50.0, 50.0),
        (60.0, 60.0, 60.0),
    ]  # type: ignore[index, union-attr]

    minutes = _range(api, T0 + timedelta(hours=12), T0 + timedelta(hours=14))
    assert minutes["resolution"] == "1m" and len(minutes["points"]) == 120  # type: ignore[arg-type]
    assert {(p["mean"], p["min"], p["max"]) for p in minutes["points"]} == {(50.0, 40.0, 60.0)}  # type: ignore[union-attr]

    hours = _range(api, T0, T0 + timedelta(hours=26))
    assert hours["resolution"] == "1h" and len(hours["points"]) == 26  # type: ignore[arg-type]
    assert hours["points"][0]["time"] == T0.isoformat().replace("+00:00", "Z")  # type: ignore[index]

    forced = _range(api, T0, T0 + timedelta(hours=2), resolution="raw")
    assert forced["resolution"] == "raw" and len(forced["points"]) == 360  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"metric": "temperature"}, "metric", "has no metric temperature (it has: rh)"),
        ({"start": "2026-11-30T10:00:00Z", "end": "2026-11-30T09:00:00Z"}, "start", "must be before end"),
        ({"start": "2026-11-30T10:00:00"}, "start", "should have timezone info"),
        ({"start": "2025-01-01T00:00:00Z", "end": "2026-11-30T00:00:00Z"}, "start", "at most 400 days"),
        ({"resolution": "5m"}, "resolution", "Input should be"),
        ({"end": "0001-01-01T00:00:00Z"}, "end", "out of range"),
        ({"start": "0001-01-01T00:00:00+14:00", "end": "2026-11-30T00:00:00Z"}, "start", "out of range"),
        ({"start": "9999-12-31T23:00:00-12:00"}, "start", "out of range"),
    ],
)
def test_a_bad_range_is_refused_naming_the_parameter(
    api: Api, params: dict[str, str], field: str, says: str
) -> None:
    answer = api.call("operator", "GET", "/sensors/dock-humidity/readings", params=params)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["query", field] and says in error["msg"], error


def test_too_many_raw_readings_ask_for_buckets(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _store(api, "dock-humidity", "rh", [(T0 - timedelta(days=1, seconds=i), 50.0) for i in range(12)])
    monkeypatch.setattr(sensors_router, "MOST_RAW", 10)  # the server runs in this process
    start, end = T0 - timedelta(days=1, minutes=1), T0 - timedelta(days=1) + timedelta(seconds=1)
    answer = api.call(
        "operator",
        "GET",
        "/sensors/dock-humidity/readings",
        params={"start": start.isoformat(), "end": end.isoformat()},
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "resolution"]
    assert len(_range(api, start, end, resolution="1m")["points"]) == 2  # type: ignore[arg-type]

"""Sensor rules: each type fires and clears at the right moment, across schedules and restarts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.config import Deployment
from hub.events import Event, Outcome
from hub.pipeline import Pipeline
from hub.store.db import Database
from iot.readings import Reading
from iot.rules import SensorRules
from tests.conftest import Clock
from tests.hub.feed import take

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
SENSORS = [
    {"id": "cold", "name": "cold store", "site": "plant", "kind": "temperature", "interval": "5m",
     "metrics": {"temperature": {"unit": "degC", "min": -60, "max": 60},
                 "humidity": {"unit": "%", "min": 0, "max": 100}}},
    {"id": "fridge", "name": "sample fridge", "site": "plant", "kind": "temperature", "interval": "2m",
     "metrics": {"temperature": {"unit": "degC", "min": -30, "max": 50}}},
    {"id": "noise", "name": "site boundary", "site": "plant", "kind": "noise",
     "metrics": {"laeq": {"unit": "dB(A)", "min": 20, "max": 140}}},
]  # fmt: skip
COLD = {"id": "cold-warm", "type": "threshold", "name": "cold store above -18", "sensor": "cold",
        "metric": "temperature", "above": -18, "clear_below": -19, "duration": "10m"}  # fmt: skip
FRIDGE = {"id": "fridge-range", "type": "threshold", "name": "fridge outside 0-8", "sensor": "fridge",
          "metric": "temperature", "above": 8, "clear_below": 7, "below": 0, "clear_above": 1,
          "duration": "5m"}  # fmt: skip
NOISE = {"id": "night-noise", "type": "threshold", "name": "night noise above 55 dB(A)", "sensor": "noise",
         "metric": "laeq", "above": 55, "clear_below": 52, "duration": "5m",
         "schedule": {"hours": ["22:00-06:00"]}, "severity": "minor"}  # fmt: skip


def deployment(*rules: dict[str, Any]) -> Deployment:
    return Deployment.model_validate(
        {
            "name": "rules test",
            "timezone": "Asia/Shanghai",
            "sites": [{"id": "plant", "name": "plant", "area_code": "610115"}],
            "sensors": SENSORS,
            "rules": list(rules),
        }
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def series(
    values: Iterable[tuple[float, float]], sensor: str = "cold", metric: str = "temperature"
) -> list[Reading]:
    return [Reading(sensor, metric, at(s), v) for s, v in values]


def steps(events: list[Event]) -> list[tuple[float, str]]:
    """Events as (seconds after T0, fire|clear), the shape the tables below expect."""
    return [((e.time - T0).total_seconds(), "clear" if e.cleared else "fire") for e in events]


def run(rules: SensorRules, readings: list[Reading], ticks: Iterable[float] = ()) -> list[Event]:
    """Feed readings one by one, ticking at the given moments in between."""
    pending = sorted(ticks)
    events: list[Event] = []
    for reading in readings:
        while pending and at(pending[0]) < reading.time:
            events += rules.tick(at(pending.pop(0)))
        events += rules.feed([reading])
    for moment in pending:
        events += rules.tick(at(moment))
    return events


def every(start: float, stop: float, step: float, value: float) -> list[tuple[float, float]]:
    return [(float(s), value) for s in range(int(start), int(stop), int(step))]


# --- threshold ------------------------------------------------------------------------------

THRESHOLD_CASES = {
    "above for the duration fires at start + duration, clears below the clear level": (
        COLD, [*every(0, 900, 30, -17), (900, -19.5)], [(600, "fire"), (900, "clear")]),
    "a reading in the band restarts a pending duration": (
        COLD, [*every(0, 300, 30, -17), (300, -18.5), *every(330, 1000, 30, -17)], [(930, "fire")]),
    "a value at the limit is not beyond it": (COLD, every(0, 1200, 30, -18), []),
    "ending just short of the duration never fires": (
        COLD, [*every(0, 600, 30, -17), (600, -25)], []),
    "sparse readings: the value holds until the next one": (
        COLD, [(0, -17), (900, -20)], [(600, "fire"), (900, "clear")]),
    "the band keeps a firing rule firing; clearing needs the clear level": (
        COLD, [*every(0, 660, 30, -17), (660, -18.5), (690, -19), (720, -19.01)],
        [(600, "fire"), (720, "clear")]),
    "below: fires under the limit, clears above clear_above": (
        FRIDGE, [(0, -1), (300, -0.5), (330, 0.5), (360, 1), (390, 1.2)], [(300, "fire"), (390, "clear")]),
    "a value holds three sensor intervals at most: a silence restarts the duration": (
        {**FRIDGE, "duration": "10m"}, [(0, 9), *every(400, 1100, 60, 9)], [(1000, "fire")]),
    "band: out on one side then the other stays one alert": (
        FRIDGE, [(0, 9), (300, 9), (330, -1), (360, 4)], [(300, "fire"), (360, "clear")]),
}  # fmt: skip


@pytest.mark.parametrize(("rule", "values", "expected"), THRESHOLD_CASES.values(), ids=THRESHOLD_CASES.keys())
def test_threshold_fires_and_clears(
    rule: dict[str, Any], values: list[tuple[float, float]], expected: list[tuple[float, str]]
) -> None:
    sensor = rule["sensor"]
    readings = series(values, sensor=sensor)
    assert steps(SensorRules(deployment(rule)).feed(readings)) == expected


def test_hovering_at_the_limit_does_not_flap() -> None:
    rules = SensorRules(deployment(COLD))
    assert steps(rules.feed(series(every(0, 630, 30, -17)))) == [(600, "fire")]
    hovering = [(630 + 30 * i, (-17.9, -18.1, -18.6, -18.0)[i % 4]) for i in range(200)]
    assert rules.feed(series(hovering)) == []
    assert steps(rules.feed(series([(7000, -19.5)]))) == [(7000, "clear")]
    # Hovering again, now just under the limit and below the clear level: nothing reopens.
    again = [(7030 + 30 * i, (-18.1, -19.2)[i % 2]) for i in range(200)]
    assert rules.feed(series(again)) == []


@pytest.mark.parametrize("ticks", [[], [601], [605, 606, 700], [300, 599.9, 600, 600.5]])
def test_threshold_moment_does_not_depend_on_ticks(ticks: list[float]) -> None:
    """A duration elapsing between readings fires at start + duration, however often tick runs."""
    readings = series([(0, -17), (60, -17), (900, -17), (960, -20)])
    events = run(SensorRules(deployment(COLD)), readings, ticks)
    assert steps(events) == [(600, "fire"), (960, "clear")]


def test_tick_fires_a_duration_with_no_new_reading() -> None:
    rules = SensorRules(deployment(COLD))
    rules.feed(series([(0, -16)]))
    assert rules.tick(at(600)) == []
    assert steps(rules.tick(at(601))) == [(600, "fire")]
    assert rules.tick(at(1200)) == []


def test_tick_does_not_stretch_a_stale_value_over_the_duration() -> None:
    rules = SensorRules(deployment({**FRIDGE, "duration": "10m"}))  # a value holds 6 minutes here
    rules.feed(series([(0, 9)], sensor="fridge"))
    assert rules.tick(at(1000)) == []


# --- restart --------------------------------------------------------------------------------


@pytest.mark.parametrize("restart", [150, 330, 610, 700, 930])
def test_restart_in_the_middle_gives_the_same_events(restart: float) -> None:
    """Restore from the readings so far, then go on: same moments, and replayed ids equal to the
    ones sent before the restart (the hub takes them as duplicates)."""
    values = [*every(0, 300, 30, -17), (300, -18.5), *every(330, 1200, 30, -17), *every(1200, 1500, 30, -20)]
    readings = series(values)
    straight = SensorRules(deployment(COLD, NOISE)).feed(readings)
    assert steps(straight) == [(930, "fire"), (1200, "clear")]

    before = [r for r in readings if r.time <= at(restart)]
    after = [r for r in readings if r.time > at(restart)]
    first = SensorRules(deployment(COLD, NOISE))
    sent = first.feed(before) + first.tick(at(restart))
    second = SensorRules(deployment(COLD, NOISE))
    window = [r for r in before if r.time >= at(restart) - second.lookback()]
    replayed = second.restore(window, at(restart))
    assert [e.id for e in replayed] == [e.id for e in sent]
    assert sent + second.feed(after) == straight


def test_restore_after_firing_in_the_band_still_clears() -> None:
    """An alert opened before the replayed span, value now in the band: the recovery still sends
    a clear (the hub ignores it if no alert is open)."""
    rules = SensorRules(deployment(COLD))
    assert rules.restore(series(every(10_000, 10_300, 30, -18.5)), at(10_300)) == []
    assert rules.feed(series([(10_330, -18.2)])) == []
    assert steps(rules.feed(series([(10_360, -19.5)]))) == [(10_360, "clear")]


def test_lookback_covers_twice_the_longest_span() -> None:
    rules = SensorRules(deployment(COLD, {**FRIDGE, "duration": "1h"}))
    assert rules.lookback() == timedelta(hours=2, minutes=5)


# --- schedule -------------------------------------------------------------------------------

NIGHT = datetime(2026, 11, 23, 13, 50, tzinfo=UTC)  # 21:50 in Asia/Shanghai


def night(minutes: float) -> datetime:
    return NIGHT + timedelta(minutes=minutes)


def noise(minutes: Iterable[float], value: float) -> list[Reading]:
    return [Reading("noise", "laeq", night(m), value) for m in minutes]


def test_noise_rule_counts_from_when_night_starts_and_clears_when_it_ends() -> None:
    rules = SensorRules(deployment(NOISE))
    events = rules.feed(noise(range(0, 30), 62))  # 21:50-22:19, loud throughout
    assert [(e.time, e.cleared) for e in events] == [(night(15), False)]  # 22:00 + 5 min
    events = rules.feed(noise(range(30, 500), 62))  # loud until 06:10 local
    assert [(e.time, e.cleared) for e in events] == [(night(490), True)]  # 06:00 local
    assert events[0].payload["reason"] == "schedule_ended"


def test_noise_rule_is_quiet_by_day_and_schedule_end_is_found_by_tick() -> None:
    rules = SensorRules(deployment(NOISE))
    day = [Reading("noise", "laeq", T0 + timedelta(minutes=m), 80) for m in range(0, 120)]
    assert rules.feed(day) == []
    late = noise(range(60, 70), 62)  # 22:50-22:59
    assert [e.time for e in rules.feed(late)] == [night(65)]
    assert rules.tick(night(480)) == []  # 05:50, the value still holds
    assert [(e.time, e.cleared) for e in rules.tick(night(495))] == [(night(490), True)]


# --- offline --------------------------------------------------------------------------------

OFFLINE = {"id": "cold-offline", "type": "offline", "name": "cold offline", "sensor": "cold", "after": "5m"}
CAMERA_OFFLINE = {"id": "cam-offline", "type": "offline", "name": "cam", "camera": "cam-1", "after": "1m"}


def test_offline_fires_in_tick_and_the_next_reading_clears_it() -> None:
    rules = SensorRules(deployment(OFFLINE, CAMERA_OFFLINE))
    assert rules.feed(series([(0, -20)])) == []
    assert rules.tick(at(300)) == []
    fired = rules.tick(at(310))
    assert steps(fired) == [(300, "fire")]
    assert fired[0].rule == "cold-offline" and fired[0].source == "sensor:cold"
    assert rules.tick(at(900)) == []
    # Any metric of the sensor shows it is back.
    assert steps(rules.feed(series([(905, 40)], metric="humidity"))) == [(905, "clear")]


def test_offline_gap_without_ticks_gives_the_same_events() -> None:
    rules = SensorRules(deployment(OFFLINE))
    assert steps(rules.feed(series([(0, -20), (200, -20), (800, -20)]))) == [(500, "fire"), (800, "clear")]


def test_offline_before_any_reading_counts_from_the_start() -> None:
    rules = SensorRules(deployment(OFFLINE))
    assert rules.tick(at(0)) == []
    assert steps(rules.tick(at(301))) == [(300, "fire")]


# --- rate of change and flatline ------------------------------------------------------------

RATE = {"id": "cold-rate", "type": "rate_of_change", "name": "rate", "sensor": "cold",
        "metric": "temperature", "max_rate": 0.3, "window": "5m"}  # fmt: skip
# One reading a minute: flat at -20, up 1 degC a minute from minute 10 to 15, flat again.
RAMP = [(60.0 * m, -20.0 + max(0, min(m, 15) - 10)) for m in range(0, 30)]
DOWN = [(s, -20.0 - (v + 20.0)) for s, v in RAMP]

RATE_CASES = {
    "rising fires on a rise": ("rising", RAMP, [(720, "fire"), (1140, "clear")]),
    "rising ignores a fall": ("rising", DOWN, []),
    "falling fires on a fall": ("falling", DOWN, [(720, "fire"), (1140, "clear")]),
    "either fires on a rise": ("either", RAMP, [(720, "fire"), (1140, "clear")]),
    "either fires on a fall": ("either", DOWN, [(720, "fire"), (1140, "clear")]),
}


@pytest.mark.parametrize(("direction", "values", "expected"), RATE_CASES.values(), ids=RATE_CASES.keys())
def test_rate_of_change(
    direction: str, values: list[tuple[float, float]], expected: list[tuple[float, str]]
) -> None:
    # Over 5 minutes the limit is a change of 1.5: passed at minute 12 (+2), back under at 19 (+1).
    rules = SensorRules(deployment({**RATE, "direction": direction}))
    assert steps(rules.feed(series(values))) == expected


def test_rate_of_change_waits_for_a_full_window() -> None:
    rules = SensorRules(deployment(RATE))
    assert rules.feed(series([(0, -20), (60, -10), (120, 0)])) == []
    assert steps(rules.feed(series([(300, 0)]))) == [(300, "fire")]


FLAT = {"id": "cold-flat", "type": "flatline", "name": "stuck probe", "sensor": "cold",
        "metric": "temperature", "window": "2h", "min_variation": 0.1}  # fmt: skip

FLAT_CASES = {
    "stuck for the whole window": (every(0, 9000, 600, -20), [(7200, "fire")]),
    "small wobble still counts as stuck": (
        [(s, -20 + 0.05 * (i % 2)) for i, (s, _) in enumerate(every(0, 9000, 600, 0))], [(7200, "fire")]),
    "a change clears it": ([*every(0, 7800, 600, -20), (7800, -19.5)], [(7200, "fire"), (7800, "clear")]),
    "a change inside the window delays it": (
        every(0, 3000, 600, -20) + every(3000, 12000, 600, -21), [(10200, "fire")]),
    "a moving value never fires": ([(s, -20 + (s / 600) % 3) for s, _ in every(0, 12000, 600, 0)], []),
}  # fmt: skip


@pytest.mark.parametrize(("values", "expected"), FLAT_CASES.values(), ids=FLAT_CASES.keys())
def test_flatline(values: list[tuple[float, float]], expected: list[tuple[float, str]]) -> None:
    assert steps(SensorRules(deployment(FLAT)).feed(series(values))) == expected


# --- inputs and events ----------------------------------------------------------------------


def test_late_readings_and_other_metrics_change_nothing() -> None:
    rules = SensorRules(deployment(COLD))
    assert rules.feed(series([(0, -17), (300, -17)])) == []
    assert rules.feed(series([(200, -25), (300, -25)])) == []  # late, and a duplicate moment
    assert rules.feed(series([(400, -40)], metric="humidity")) == []
    assert rules.feed([Reading("fridge", "temperature", at(450), -40)]) == []
    assert steps(rules.feed(series([(600, -17)]))) == [(600, "fire")]


def test_events_carry_the_rule_sensor_and_a_stable_id() -> None:
    rules = SensorRules(deployment(COLD))
    fired, cleared = rules.feed(series([(0, -16.5), (600, -16), (660, -19.5)]))
    assert fired.id == "cold-warm:20261123T011000.000000:fire"
    assert cleared.id == "cold-warm:20261123T011100.000000:clear"
    for e in (fired, cleared):
        assert re.fullmatch(r"[\w.:@-]{1,128}", e.id)
        assert (e.source, e.site, e.rule, e.severity) == ("sensor:cold", "plant", "cold-warm", "major")
    assert fired.payload["limit"] == -18 and fired.payload["value"] == -16
    assert cleared.cleared and not fired.cleared


# --- through the hub ------------------------------------------------------------------------


def test_events_open_and_close_alerts_in_the_hub(
    db: Database, pipeline: Pipeline, demo_config: Deployment, clock: Clock
) -> None:
    """Demo rules: cold store too warm, gas high, sensor offline, each opened then closed."""
    start = clock.now - timedelta(hours=1)
    rules = SensorRules(demo_config)
    temp = [
        Reading("coldstore-temp", "temperature", start + timedelta(seconds=s), -25 if s < 0 else -16)
        for s in range(-1800, 660, 30)
    ]
    temp.append(Reading("coldstore-temp", "temperature", start + timedelta(seconds=660), -19.5))
    gas = [
        Reading("coldstore-gas", "lel", start + timedelta(seconds=s), v)
        for s, v in [(0, 25), (10, 30), (20, 5)]
    ]
    # The dock humidity sensor reports all along, so that its offline rule stays quiet.
    humidity = [
        Reading("dock-humidity", "rh", start + timedelta(seconds=s), 60) for s in range(-1800, 1001, 60)
    ]
    events = rules.feed(sorted(temp + gas + humidity, key=lambda r: r.time))
    events += rules.tick(start + timedelta(seconds=1000))  # temperature silent since 660: offline at 960
    events += rules.feed([Reading("coldstore-temp", "temperature", start + timedelta(seconds=1100), -20)])
    outcomes = [(e.rule, take(db, pipeline, e).outcome) for e in events]
    assert outcomes == [
        ("coldstore-gas-high", Outcome.OPENED),
        ("coldstore-gas-high", Outcome.CLOSED),
        ("coldstore-too-warm", Outcome.OPENED),
        ("coldstore-too-warm", Outcome.CLOSED),
        ("coldstore-temp-offline", Outcome.OPENED),
        ("coldstore-temp-offline", Outcome.CLOSED),
    ]
    # A restore replays the same ids: nothing changes in the hub.
    replayed = SensorRules(demo_config).restore(temp + gas + humidity, start + timedelta(seconds=1000))
    assert [e.id for e in replayed] == [e.id for e in events[:5]]
    assert all(take(db, pipeline, e).outcome is Outcome.DUPLICATE for e in replayed)


def test_a_sensor_never_heard_from_is_not_reported_offline_on_restore(demo_config: Deployment) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    new = frozenset({"coldstore-temp", "coldstore-gas", "dock-humidity"})
    rules = SensorRules(demo_config)
    assert rules.restore([], now, new) == []
    assert rules.tick(now + timedelta(minutes=4)) == []
    fired = rules.tick(now + timedelta(minutes=6))
    assert {(e.rule, e.time) for e in fired} == {
        ("coldstore-temp-offline", now + timedelta(minutes=5)),
        ("dock-humidity-offline", now + timedelta(minutes=5)),
    }

"""The rules take a batch of readings at once as they would take them one by one: the same events,
in each rule the same order, and the same state after, whatever the batch boundaries, late or
repeated readings, breaches, silences and schedules."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.events import Event
from iot.readings import Reading
from iot.rules import SensorRules
from tests.iot.test_rules import COLD, FRIDGE, NOISE, T0, at, deployment

COLD_OFFLINE = {"id": "cold-offline", "type": "offline", "name": "cold store silent", "sensor": "cold",
                "after": "10m"}  # fmt: skip
FRIDGE_RISING = {"id": "fridge-rising", "type": "rate_of_change", "name": "fridge warming fast",
                 "sensor": "fridge", "metric": "temperature", "max_rate": 0.5, "window": "10m"}  # fmt: skip
NOISE_OFFLINE = {"id": "noise-offline", "type": "offline", "name": "noise meter silent at night",
                 "sensor": "noise", "after": "15m", "schedule": {"hours": ["22:00-06:00"]}}  # fmt: skip
RULES: list[dict[str, Any]] = [COLD, FRIDGE, NOISE, COLD_OFFLINE, FRIDGE_RISING, NOISE_OFFLINE]
CHANNELS = {("cold", "temperature"): (-25.0, -10.0), ("cold", "humidity"): (0.0, 100.0),
            ("fridge", "temperature"): (-5.0, 12.0), ("noise", "laeq"): (40.0, 70.0)}  # fmt: skip


@st.composite
def readings(draw: st.DrawFn) -> list[Reading]:
    """Readings of every channel over a day in time order, with gaps, repeats and late ones."""
    out, clock = [], 0.0
    for _ in range(draw(st.integers(0, 60))):
        clock += draw(st.sampled_from([0.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 7200.0]))
        sensor, metric = draw(st.sampled_from(sorted(CHANNELS)))
        low, high = CHANNELS[(sensor, metric)]
        late = draw(st.sampled_from([0.0, 0.0, 0.0, -600.0]))  # now and then a reading from before
        out.append(Reading(sensor, metric, at(clock + late), draw(st.floats(low, high))))
    return out


def per_rule(events: list[Event]) -> dict[str, list[tuple[object, ...]]]:
    rules: dict[str, list[tuple[object, ...]]] = {}
    for e in events:
        rules.setdefault(e.rule, []).append((e.id, e.time, e.cleared, e.payload))
    return rules


@settings(max_examples=150, deadline=None)
@given(readings=readings(), cuts=st.lists(st.integers(0, 60), max_size=6))
def test_a_batch_is_taken_as_its_readings_one_by_one(readings: list[Reading], cuts: list[int]) -> None:
    config = deployment(*RULES)
    one_by_one, batched = SensorRules(config), SensorRules(config)
    for rules in (one_by_one, batched):
        rules.restore([], T0)
    alone: list[Event] = []
    for reading in readings:  # each rule's own step for one reading, as before batches
        for state in one_by_one._states:
            if state.wants(reading):
                alone += [state.event(t) for t in state.feed(reading)]
    together: list[Event] = []
    bounds = sorted({0, len(readings), *(c for c in cuts if c < len(readings))})
    for start, end in pairwise(bounds):
        events = batched.feed(readings[start:end])
        assert [e.time for e in events] == sorted(e.time for e in events)  # a batch's, in time order
        together += events
    assert per_rule(together) == per_rule(alone)
    later = at(3 * 86400)
    assert per_rule(batched.tick(later)) == per_rule(one_by_one.tick(later))  # the same state after
    for mine, theirs in zip(batched._states, one_by_one._states, strict=True):
        assert {k: v for k, v in vars(mine).items() if k != "rule"} == {
            k: v for k, v in vars(theirs).items() if k != "rule"
        }


def test_a_quiet_batch_leaves_the_value_held_and_a_breach_in_it_still_fires() -> None:
    rules = SensorRules(deployment(COLD))
    quiet = [Reading("cold", "temperature", at(s), -20.0) for s in range(0, 600, 30)]
    assert rules.feed(quiet) == []
    warm = [Reading("cold", "temperature", at(600 + s), -15.0) for s in range(0, 700, 60)]
    events = rules.feed(warm)
    assert [(e.time - T0, e.cleared) for e in events] == [(timedelta(seconds=1200), False)]

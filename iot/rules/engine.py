"""The deployment's sensor rules, fed readings and time, returning events for the hub."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from hub.config import Deployment
from hub.config.rules import Flatline, Offline, RateOfChange, Threshold
from hub.events import Event
from iot.readings import Reading
from iot.rules.base import RuleState, SensorRuleModel, Transition
from iot.rules.offline import OfflineState
from iot.rules.threshold import ThresholdState
from iot.rules.window import FlatlineState, RateOfChangeState

# Beyond twice the longest rule span, a margin for the reading in force at a window's start.
_MARGIN = timedelta(minutes=5)


class SensorRules:
    """Evaluates the deployment's sensor rules (threshold, rate_of_change, flatline, offline).

    `feed()` takes readings, `tick()` the passing of time; both return the events of the
    transitions they cause, stamped with moments taken from the data, so that `restore()` after a
    restart replays the same event ids.
    """

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._states: list[RuleState[SensorRuleModel]] = []
        self._by_sensor: dict[str, list[RuleState[SensorRuleModel]]] = {}
        self._build()

    def _build(self) -> None:
        d = self.deployment
        sensors = {s.id: s for s in d.sensors}
        site_of = {s.id: s.site for s in d.sensors}
        self._states, self._by_sensor = [], {}
        for rule in d.rules:
            state: RuleState[SensorRuleModel]
            if isinstance(rule, Threshold):
                state = ThresholdState(rule, site_of[rule.sensor], d.tz, sensors[rule.sensor].interval)
            elif isinstance(rule, RateOfChange):
                state = RateOfChangeState(rule, site_of[rule.sensor], d.tz)
            elif isinstance(rule, Flatline):
                state = FlatlineState(rule, site_of[rule.sensor], d.tz)
            elif isinstance(rule, Offline) and rule.sensor is not None:
                state = OfflineState(rule, site_of[rule.sensor], d.tz)
            else:
                continue  # camera rules (camera offline included) are video's
            self._states.append(state)
            self._by_sensor.setdefault(state.sensor, []).append(state)

    def feed(self, readings: Iterable[Reading]) -> list[Event]:
        """Events caused by the readings, given in time order per sensor and metric.

        A reading not after the last one a rule took for its sensor and metric is late: it is kept
        by the writer, but changes no rule's state. Each rule takes its readings of the batch at
        once (`RuleState.feed_many`), most of them on its quiet path.
        """
        by_sensor: dict[str, list[Reading]] = {}
        for reading in readings:
            if reading.sensor in self._by_sensor:
                by_sensor.setdefault(reading.sensor, []).append(reading)
        events: list[Event] = []
        for sensor, taken in by_sensor.items():
            for state in self._by_sensor[sensor]:
                events += _events(state, state.feed_many([r for r in taken if state.wants(r)]))
        # Each rule's events are in time order already; across rules, as their readings came.
        events.sort(key=lambda e: e.time)
        return events

    def tick(self, now: datetime) -> list[Event]:
        """Events caused by time alone up to `now`: silence, a duration elapsing, a schedule flipping.

        The moment of each is when it became due, not `now`, so how often this runs changes
        no event.
        """
        events: list[Event] = []
        for state in self._states:
            events += _events(state, state.advance(now))
        return events

    def restore(
        self, readings: Iterable[Reading], now: datetime, new_sensors: frozenset[str] = frozenset()
    ) -> list[Event]:
        """Rebuild every rule's state after a restart from the readings of the last `lookback()`.

        `new_sensors` have never sent a reading: their silence counts from `now`, not from the
        start of the replayed span, so a fresh deployment does not report them all offline.

        Returns the events the replay produces. Transitions inside the replayed span get the ids
        they had before the restart, so the hub takes them as duplicates; one that happened
        before it may come back with a new id, which the hub folds into the open alert.
        """
        self._build()
        for state in self._states:
            sensor = getattr(state.rule, "sensor", None)
            state.start(now if sensor in new_sensors else now - self.lookback())
        ordered = sorted(readings, key=lambda r: r.time)
        events = self.feed(ordered) + self.tick(now)
        for state in self._states:
            state.settle()
        return events

    def lookback(self) -> timedelta:
        """How far back `restore()` needs readings.

        Twice the longest duration, window or silence, so that a condition that became true up to
        one span before the restart replays its original transition, plus a margin for the
        reading in force when the span starts.
        """
        spans = [_span(s) for s in self._states]
        return 2 * max(spans, default=timedelta(0)) + _MARGIN


def _span(state: RuleState[SensorRuleModel]) -> timedelta:
    rule = state.rule
    if isinstance(rule, Threshold):
        return timedelta(seconds=rule.duration)
    if isinstance(rule, Offline):
        return timedelta(seconds=rule.after)
    return timedelta(seconds=rule.window)


def _events(state: RuleState[SensorRuleModel], transitions: list[Transition]) -> list[Event]:
    return [state.event(t) for t in transitions]

"""Rules judged over a sliding window of readings: rate of change and flat-lined sensor.

Both decide at each reading, from the readings of the last `window` plus the one just before it
(under sample and hold, that one is the value at the window's start). Until the readings span the
whole window the rule does not decide. The condition at a reading is the whole state: the rule
fires at the first reading where it holds and clears at the first where it does not.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from pydantic import JsonValue

from hub.config.rules import Flatline, RateOfChange
from iot.readings import Reading
from iot.rules.base import RuleState, Transition

W = TypeVar("W", bound=RateOfChange | Flatline)


class WindowState(RuleState[W]):
    """Keeps the window's readings and turns a condition on them into transitions."""

    def __init__(self, rule: W, site: str, tz: ZoneInfo) -> None:
        super().__init__(rule, site, tz)
        self.window = timedelta(seconds=rule.window)
        self.readings: deque[tuple[datetime, float]] = deque()

    def wants(self, reading: Reading) -> bool:
        return reading.sensor == self.rule.sensor and reading.metric == self.rule.metric

    def _elapse(self, until: datetime) -> list[Transition]:
        return []  # decided at readings only: silence is the offline rule's business

    def _observe(self, reading: Reading) -> list[Transition]:
        start = reading.time - self.window
        self.readings.append((reading.time, reading.value))
        # Drop what is older than the window, keeping the reading in force at its start.
        while len(self.readings) > 1 and self.readings[1][0] <= start:
            self.readings.popleft()
        if self.readings[0][0] > start or not self.open:
            return []
        holds, facts = self.judge()
        facts = {"metric": self.rule.metric, "value": reading.value, "window": self.rule.window, **facts}
        if holds and not self.firing:
            return [self._fire(reading.time, facts)]
        if not holds and self.firing:
            return [self._clear(reading.time, facts)]
        return []

    def judge(self) -> tuple[bool, dict[str, JsonValue]]:
        """Whether the condition holds on the window's readings, and the figures that say why."""
        raise NotImplementedError


class RateOfChangeState(WindowState[RateOfChange]):
    """The change over the window, per minute, beyond `max_rate` in the rule's direction.

    The rate is the net change from the value at the window's start to the latest value divided
    by the window: a spike that comes and goes within the window is not a trend.
    """

    def judge(self) -> tuple[bool, dict[str, JsonValue]]:
        rule = self.rule
        rate = (self.readings[-1][1] - self.readings[0][1]) / (rule.window / 60)
        if rule.direction == "rising":
            holds = rate > rule.max_rate
        elif rule.direction == "falling":
            holds = rate < -rule.max_rate
        else:
            holds = abs(rate) > rule.max_rate
        return holds, {"rate": rate, "limit": rule.max_rate, "direction": rule.direction}


class FlatlineState(WindowState[Flatline]):
    """A value that varies by no more than `min_variation` over the whole window (stuck probe)."""

    def judge(self) -> tuple[bool, dict[str, JsonValue]]:
        values = [v for _, v in self.readings]
        variation = max(values) - min(values)
        holds = len(values) >= 2 and variation <= self.rule.min_variation
        return holds, {"variation": variation, "limit": self.rule.min_variation}

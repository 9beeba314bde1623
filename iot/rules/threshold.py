"""Threshold: a value beyond a limit (above, below, or outside a band) for a duration, with hysteresis."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import JsonValue

from hub.config.rules import Threshold
from iot.readings import Reading
from iot.rules.base import RuleState, Transition

HOLD_INTERVALS = 3  # like the ingest's default for offline: one or two lost messages are tolerated


class ThresholdState(RuleState[Threshold]):
    """Fires once the value has been beyond a limit for `duration`; clears past the clear level.

    - Beyond: ``value > above`` or ``value < below`` (strict: a value *at* the limit is fine).
    - Clear levels default to the limits themselves; ``clear_below`` / ``clear_above`` move them
      further in, so a firing rule clears only when ``value < clear_below`` (for `above`) or
      ``value > clear_above`` (for `below`). Between the clear level and the limit (the band) a
      firing rule keeps firing and a rule that is not firing stays quiet.
    - The duration is a continuous breach: any reading not beyond the limit, in the band too,
      restarts it. Hysteresis only protects an alert that is already open; it never shortens
      the time a breach must last.
    - Firing moment: the breach start plus `duration`, whether a reading or `tick()` notices it,
      as long as no reading ended the breach before then (the value holds until the next reading).
      With a schedule, a breach under way when the schedule opens counts from the opening.
    - A value holds for at most `HOLD_INTERVALS` of the sensor's expected interval: a breach is
      not stretched over a silence (reporting that is the offline rule's work). A silence of
      that length ends a pending breach; it does not clear an open alert, whose cause is unknown.
    """

    def __init__(self, rule: Threshold, site: str, tz: ZoneInfo, interval: float) -> None:
        super().__init__(rule, site, tz)
        self.duration = timedelta(seconds=rule.duration)
        self.hold = timedelta(seconds=HOLD_INTERVALS * interval)
        self.value: float | None = None  # the last value: it holds until the next reading
        self.value_at: datetime | None = None
        self.since: datetime | None = None  # start of the breach that is not firing yet
        # After a restore the replay may not reach back to a breach that opened an alert while
        # the value now sits in the band: the rule may be firing. It then sends a clear when the
        # value recovers, which the hub ignores if no alert is open.
        self.maybe_firing = False

    def wants(self, reading: Reading) -> bool:
        return reading.sensor == self.rule.sensor and reading.metric == self.rule.metric

    def beyond(self, value: float) -> bool:
        r = self.rule
        return (r.above is not None and value > r.above) or (r.below is not None and value < r.below)

    def recovered(self, value: float) -> bool:
        """Back on the safe side of both clear levels."""
        r = self.rule
        if r.above is not None and not value < (r.above if r.clear_below is None else r.clear_below):
            return False
        return r.below is None or value > (r.below if r.clear_above is None else r.clear_above)

    def limit(self, value: float) -> float | None:
        r = self.rule
        return r.above if r.above is not None and value > r.above else r.below

    def _fresh(self, at: datetime) -> bool:
        """Whether the last value still stands at `at`."""
        return self.value_at is not None and at < self.value_at + self.hold

    def _absorb(self, readings: list[Reading], at: int) -> int:
        """Without a schedule, while nothing fires or is pending (no breach under way): a reading
        within the limits only becomes the value held, and a late one changes nothing."""
        if self.rule.schedule is not None or self.firing or self.maybe_firing or self.since is not None:
            return at
        r = self.rule
        above = math.inf if r.above is None else r.above
        below = -math.inf if r.below is None else r.below
        last, held = self.last, None
        end = len(readings)
        while at < end:
            reading = readings[at]
            if last is None or reading.time > last:
                if not below <= reading.value <= above:
                    break  # a breach may begin: the reading takes the full path
                last, held = reading.time, reading
            at += 1
        if held is not None:
            self.last = self.value_at = held.time
            self.value = held.value
            self.checked = held.time if self.checked is None else max(self.checked, held.time)
        return at

    def _elapse(self, until: datetime) -> list[Transition]:
        if self.since is None or self.value is None:
            return []
        due = self.since + self.duration
        if due >= until or not self._fresh(due):  # not due yet, or the value went stale first
            return []
        return [self._start_firing(self.value)]

    def _observe(self, reading: Reading) -> list[Transition]:
        value, at = reading.value, reading.time
        if not self._fresh(at):
            self.since = None  # a silence ended the breach: a new one starts here
        self.value, self.value_at = value, at
        if self.firing or self.maybe_firing:
            if self.recovered(value):
                self.maybe_firing = False
                return [self._clear(at, {**self._facts(value), "reason": "recovered"})]
            if self.firing:
                return []
        if not self.open or not self.beyond(value):
            self.since = None
            return []
        if self.since is None:
            self.since = at
        if at - self.since >= self.duration:
            return [self._start_firing(value)]
        return []

    def _schedule(self, opened: bool, at: datetime) -> list[Transition]:
        breaching = self.value is not None and self.beyond(self.value) and self._fresh(at)
        self.since = at if opened and breaching else None
        if not opened and self.maybe_firing:
            self.maybe_firing = False
            return [self._clear(at, {"reason": "schedule_ended"})]
        return super()._schedule(opened, at)

    def _start_firing(self, value: float) -> Transition:
        assert self.since is not None
        at, self.since, self.maybe_firing = self.since + self.duration, None, False
        return self._fire(
            at, {**self._facts(value), "limit": self.limit(value), "since": _iso(at - self.duration)}
        )

    def _facts(self, value: float) -> dict[str, JsonValue]:
        r = self.rule
        return {
            "metric": r.metric,
            "value": value,
            "above": r.above,
            "below": r.below,
            "clear_below": r.clear_below,
            "clear_above": r.clear_above,
            "duration": r.duration,
        }

    def settle(self) -> None:
        """After a restore: unless the replay shows the rule firing or the value recovered, an
        alert opened before the replayed span may still be open."""
        self.maybe_firing = not self.firing and (self.value is None or not self.recovered(self.value))


def _iso(at: datetime) -> str:
    return at.isoformat()

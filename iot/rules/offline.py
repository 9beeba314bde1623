"""Sensor offline: no reading of any metric for `after`."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hub.config.rules import Offline
from iot.readings import Reading
from iot.rules.base import RuleState, Transition


class OfflineState(RuleState[Offline]):
    """Fires `after` past the last reading (or past the opening of its schedule, if later);
    the next reading clears it.

    Before any reading, silence counts from when watching started (a fresh start, or the oldest
    moment a restore replays): a sensor that never speaks is reported too.
    """

    def __init__(self, rule: Offline, site: str, tz: ZoneInfo) -> None:
        super().__init__(rule, site, tz)
        self.after = timedelta(seconds=rule.after)
        self.silent_from: datetime | None = None  # last reading, or when watching started
        self.opened: datetime | None = None  # when the schedule last opened, if seen

    def wants(self, reading: Reading) -> bool:
        return reading.sensor == self.rule.sensor

    def start(self, at: datetime) -> None:
        super().start(at)
        self.silent_from = at

    def _absorb(self, readings: list[Reading], at: int) -> int:
        """Without a schedule, while not firing: a reading that comes within `after` of the one
        before only moves the start of the silence, and a late one changes nothing."""
        if self.rule.schedule is not None or self.firing or self.silent_from is None:
            return at
        last, silent_from = self.last, self.silent_from
        end = len(readings)
        while at < end:
            reading = readings[at]
            if last is None or reading.time > last:
                if reading.time - silent_from > self.after:
                    break  # a silence ended by this reading: it takes the full path
                last = silent_from = reading.time
            at += 1
        if last is not None and last != self.last:
            self.last = self.silent_from = last
            self.checked = last if self.checked is None else max(self.checked, last)
        return at

    def _elapse(self, until: datetime) -> list[Transition]:
        if self.silent_from is None:
            self.silent_from = until  # the first moment seen on a fresh start
        if self.firing or not self.open:
            return []
        due = self.silent_from + self.after
        if self.opened is not None:
            due = max(due, self.opened)
        if due >= until:
            return []
        last = None if self.last is None else self.last.isoformat()
        return [self._fire(due, {"last_reading": last, "after": self.rule.after})]

    def _observe(self, reading: Reading) -> list[Transition]:
        self.silent_from = reading.time
        if self.firing:
            return [self._clear(reading.time, {"metric": reading.metric, "value": reading.value})]
        return []

    def _schedule(self, opened: bool, at: datetime) -> list[Transition]:
        self.opened = at if opened else None
        return super()._schedule(opened, at)

"""What every sensor rule shares: late-reading guard, schedule gate, transitions and event ids.

A rule sees its sensor's signal as *sample and hold*: a value stands until the next reading.
Every transition is therefore stamped with a moment taken from the data (a reading's time,
a duration or silence elapsing, a schedule boundary), never with the moment `tick()` happened to
run. Replaying the same readings after a restart gives the same moments, hence the same event
ids, and the hub takes the replayed events as duplicates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import JsonValue

from hub.config.rules import Flatline, Offline, RateOfChange, Threshold
from hub.events import Event, transition_id
from iot.readings import Reading

SensorRuleModel = Threshold | RateOfChange | Flatline | Offline
R = TypeVar("R", bound=SensorRuleModel, covariant=True)


@dataclass(frozen=True, slots=True)
class Transition:
    """A rule starting (`fired`) or ending to fire at `at`."""

    at: datetime
    fired: bool
    payload: dict[str, JsonValue]


class RuleState(ABC, Generic[R]):
    """The state of one rule, fed the readings of its sensor in time order.

    Subclasses implement three steps; this class orders them:
    `_elapse(until)` for transitions due strictly before `until` with no new reading,
    `_observe(reading)` for the reading itself, `_schedule(opened, at)` when the schedule flips.
    """

    def __init__(self, rule: R, site: str, tz: ZoneInfo) -> None:
        self.rule = rule
        self.site = site
        self.tz = tz
        self.firing = False
        self.last: datetime | None = None  # time of the last reading taken (late ones are ignored)
        self.open = True  # inside the schedule, as of `checked`
        self.checked: datetime | None = None  # the latest moment the schedule was looked at
        self.stamp: datetime | None = None  # time of the latest transition: none goes before it

    @abstractmethod
    def wants(self, reading: Reading) -> bool:
        """Whether the reading is the rule's sensor (and metric)."""

    @abstractmethod
    def _elapse(self, until: datetime) -> list[Transition]: ...

    @abstractmethod
    def _observe(self, reading: Reading) -> list[Transition]: ...

    def _schedule(self, opened: bool, at: datetime) -> list[Transition]:
        """The schedule flipped at `at`. By default: a firing rule clears when it closes."""
        if not opened and self.firing:
            return [self._clear(at, {"reason": "schedule_ended"})]
        return []

    def settle(self) -> None:
        """Called after a restore replayed the readings; for state the replay may not show."""

    def start(self, at: datetime) -> None:
        """Begin watching at `at` (a fresh start or the oldest moment a restore replays)."""
        self.checked = at
        self.open = self._covers(at)

    def feed(self, reading: Reading) -> list[Transition]:
        """Take one reading; a reading not after the last one taken is late and changes nothing."""
        if self.last is not None and reading.time <= self.last:
            return []
        out = self.advance(reading.time)
        self.last = reading.time
        return out + self._observe(reading)

    def feed_many(self, readings: list[Reading]) -> list[Transition]:
        """Take readings in time order, as `feed` one by one would: a run of readings that can
        change nothing but the value held (`_absorb`) is taken without the per-reading steps."""
        out: list[Transition] = []
        at, end = 0, len(readings)
        while at < end:
            at = self._absorb(readings, at)
            if at < end:
                out += self.feed(readings[at])
                at += 1
        return out

    def _absorb(self, readings: list[Reading], at: int) -> int:
        """Take the readings from `at` on that leave the rule quiet, as `feed` would take them;
        the index of the first one that may not (the default: none is taken here)."""
        return at

    def advance(self, now: datetime) -> list[Transition]:
        """Transitions due before `now`: schedule boundaries in order, then what time alone causes."""
        out: list[Transition] = []
        for at, opened in self._boundaries(now):
            out += self._elapse(at)
            self.open = opened
            out += self._schedule(opened, at)
        return out + self._elapse(now)

    def _covers(self, at: datetime) -> bool:
        schedule = self.rule.schedule
        return schedule is None or schedule.covers(at.astimezone(self.tz))

    def _boundaries(self, until: datetime) -> Iterator[tuple[datetime, bool]]:
        """Moments in (checked, until] where the schedule opens or closes (`Schedule.flips`)."""
        checked, self.checked = self.checked, max(until, self.checked or until)
        schedule = self.rule.schedule
        if schedule is None or checked is None or until <= checked:
            if checked is None:
                self.open = self._covers(until)
            return
        yield from schedule.flips(self.tz, checked, until, self.open)

    def _fire(self, at: datetime, payload: dict[str, JsonValue]) -> Transition:
        self.firing = True
        return self._transition(at, True, payload)

    def _clear(self, at: datetime, payload: dict[str, JsonValue]) -> Transition:
        self.firing = False
        return self._transition(at, False, payload)

    def _transition(self, at: datetime, fired: bool, payload: dict[str, JsonValue]) -> Transition:
        # A reading that arrives after a tick but is stamped before the tick's transition must
        # not produce an end before its start.
        if self.stamp is not None and at < self.stamp:
            at = self.stamp
        self.stamp = at
        return Transition(at, fired, payload)

    @property
    def sensor(self) -> str:
        sensor = self.rule.sensor
        assert sensor is not None  # camera offline rules never get a state
        return sensor

    def event(self, t: Transition) -> Event:
        """The transition as the hub's input."""
        payload: dict[str, JsonValue] = {"type": self.rule.type, **t.payload}
        return Event(
            id=transition_id(self.rule.id, t.at, t.fired),
            source=f"sensor:{self.sensor}",
            site=self.site,
            rule=self.rule.id,
            time=t.at,
            severity=self.rule.severity,
            cleared=not t.fired,
            payload=payload,
        )

"""What every video rule shares: hits, label and confidence filtering, the schedule, occurrences.

A rule is fed the tracked detections of its camera, one analysed frame at a time, with the
frame's time. Frames come irregularly (0.2-5 s apart) and some never come: every duration is
measured between frame times, and a frame that is missing is no evidence either way. Each
occurrence fires once and clears once; the hub dedups and applies cooldowns.

Moments on hits come from the frames, never from the wall clock: a fire is stamped with the
frame in which the condition had lasted long enough (its boxes are in that frame), a clear
with the first frame in which the cause was seen to be over (or the moment the schedule
closed). Replaying the same frames gives the same hits and the same keys.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import JsonValue

from hub.config.rules import CameraRule, LineCrossing, ZoneRule
from vision.detections import Detections
from vision.zones import Box, PolygonZone, box_tuple

GRACE = 10.0  # seconds: frames without the cause for longer than this end an occurrence

C = TypeVar("C", bound=CameraRule, covariant=True)
Z = TypeVar("Z", bound=ZoneRule, covariant=True)
K = TypeVar("K")


@dataclass(frozen=True)
class Hit:
    """A rule starting to fire (an occurrence) or, with `cleared`, that occurrence ending."""

    rule: str  # rule id
    camera: str
    time: datetime  # aware: the moment the condition became true (fire) or ended (clear)
    cleared: bool = False  # True: the cause has ended -> the hub closes the alert
    key: str = ""  # stable identity of this occurrence, the same on its fire and its clear
    zone: str | None = None
    line: str | None = None
    tracks: tuple[int, ...] = ()  # tracker ids involved
    boxes: tuple[Box, ...] = ()  # their boxes (xyxy) at `time`, for the evidence picture
    detail: dict[str, JsonValue] = field(default_factory=dict)  # durations, counts, direction...


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def seconds(span: timedelta) -> float:
    return round(span.total_seconds(), 3)


def tracked(detections: Detections) -> tuple[tuple[int, ...], tuple[Box, ...]]:
    """Tracker ids (tracked rows only) and boxes (every row) of some detections, for a hit."""
    tracks = tuple(int(t) for t in detections.tracker_id if t >= 0)
    return tracks, tuple(box_tuple(row) for row in detections.xyxy)


class VisionRule(ABC, Generic[C]):
    """One configured rule of one camera: `update()` it with every analysed frame.

    The base keeps the detections of the rule's labels at or above its `min_confidence`, and
    gates on the schedule (read in `tz`): outside it a rule sees nothing and fires nothing; an
    occurrence still firing when the schedule closes is cleared at the closing moment and the
    rule starts afresh when it opens again. Frames not after the last one taken are ignored.
    """

    def __init__(self, config: C, tz: ZoneInfo) -> None:
        self.config = config
        self.tz = tz
        self.opened_at: datetime | None = None  # when the schedule last opened (or the first frame)
        self._open = False
        self._last: datetime | None = None
        self._firing: dict[str, Hit] = {}  # subject -> the fire hit of its open occurrence

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def camera(self) -> str:
        return self.config.camera

    @property
    def firing(self) -> bool:
        return bool(self._firing)

    def labels(self) -> Collection[str]:
        """Labels the rule looks at; the others are dropped before `_observe`."""
        return self.config.labels

    def update(self, detections: Detections, now: datetime) -> list[Hit]:
        """Take the tracked detections of one frame taken at `now`; return what fired or cleared."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"rule {self.id!r}: frame time {now.isoformat()} has no timezone")
        if self._last is not None and now <= self._last:
            return []
        hits = self._follow_schedule(now)
        self._last = now
        if not self._open:
            return hits
        keep = np.isin(detections.labels, list(self.labels()))
        keep &= detections.confidence >= self.config.min_confidence
        return hits + self._observe(detections[keep], now)

    @abstractmethod
    def _observe(self, detections: Detections, now: datetime) -> list[Hit]:
        """The rule's own step, inside its schedule, on the detections it wants."""

    @abstractmethod
    def _reset(self) -> None:
        """Forget everything seen: the schedule closed."""

    def _covers(self, at: datetime) -> bool:
        schedule = self.config.schedule
        return schedule is None or schedule.covers(at.astimezone(self.tz))

    def _follow_schedule(self, now: datetime) -> list[Hit]:
        last, is_open = self._last, self._covers(now)
        if last is None:
            self._open, self.opened_at = is_open, now if is_open else None
            return []
        schedule = self.config.schedule
        flipped = [] if schedule is None else list(schedule.flips(self.tz, last, now, self._open))
        if not flipped:
            return []
        hits: list[Hit] = []
        if self._open:
            hits = self.end(flipped[0][0], "schedule_ended")
        self._open = is_open
        if is_open:
            self.opened_at = max(at for at, opened in flipped if opened)
        return hits

    def end(self, at: datetime, reason: str) -> list[Hit]:
        """Close every occurrence going on and forget what was seen (the schedule closed, the
        camera stopped being analysed): the clears, `reason` in their detail."""
        hits = [self._clear(subject, at, {"reason": reason}) for subject in list(self._firing)]
        self._reset()
        return hits

    def _key(self, subject: str, start: datetime) -> str:
        return f"{self.id}:{subject}:{start.astimezone(UTC):%Y%m%dT%H%M%S.%f}"

    def _fire(
        self,
        subject: str,
        start: datetime,
        at: datetime,
        *,
        tracks: tuple[int, ...] = (),
        boxes: tuple[Box, ...] = (),
        detail: dict[str, JsonValue] | None = None,
    ) -> Hit:
        """Open the occurrence of `subject` (a track, or the zone) whose cause started at `start`."""
        config = self.config
        hit = Hit(
            rule=self.id,
            camera=self.camera,
            time=at,
            key=self._key(subject, start),
            zone=config.zone if isinstance(config, ZoneRule) else None,
            line=config.line if isinstance(config, LineCrossing) else None,
            tracks=tracks,
            boxes=boxes,
            detail={"type": self.config_type, "since": iso(start), **(detail or {})},
        )
        self._firing[subject] = hit
        return hit

    def _clear(
        self, subject: str, at: datetime, detail: dict[str, JsonValue], tracks: tuple[int, ...] | None = None
    ) -> Hit:
        """Close the occurrence of `subject`: the same key and zone as its fire, and its tracks
        unless `tracks` names those that ended it (the person back at an empty post)."""
        fired = self._firing.pop(subject)
        return replace(
            fired,
            time=at,
            cleared=True,
            tracks=fired.tracks if tracks is None else tracks,
            boxes=(),
            detail={"type": self.config_type, **detail},
        )

    @property
    def config_type(self) -> str:
        return str(getattr(self.config, "type", type(self.config).__name__))


class ZonedRule(VisionRule[Z]):
    """A rule about a polygon zone of the picture."""

    def __init__(self, config: Z, tz: ZoneInfo, zone: PolygonZone, grace: float = GRACE) -> None:
        super().__init__(config, tz)
        self.zone = zone
        self.grace = timedelta(seconds=grace)

    def in_zone(self, detections: Detections) -> Detections:
        return detections[self.zone.trigger(detections)]


@dataclass
class Spell:
    """A stretch of frames over which a condition held for one subject."""

    since: datetime  # the first frame it held
    last: datetime  # the latest frame it held
    gone: datetime | None = None  # the first frame after `last` it did not hold
    fired: bool = False
    peak: int = 0  # for the rule's own use (the largest count seen)


class Spells(Generic[K]):
    """Conditions that must hold `duration` to fire and stop holding `grace` to end, per subject.

    Frames where a subject's condition does not hold are bridged while they span no more than
    `grace`, so a missed detection neither restarts the duration nor ends an occurrence; frames
    that never came are no evidence at all.
    """

    def __init__(self, duration: timedelta, grace: timedelta) -> None:
        self.duration = duration
        self.grace = grace
        self.spells: dict[K, Spell] = {}

    def step(self, holding: Iterable[K], now: datetime) -> tuple[list[K], list[tuple[K, Spell]]]:
        """The subjects holding at `now`: those now due to fire, and fired spells that ended."""
        due: list[K] = []
        held = set(holding)
        for key in held:
            spell = self.spells.setdefault(key, Spell(now, now))
            spell.last, spell.gone = now, None
            if not spell.fired and now - spell.since >= self.duration:
                spell.fired = True
                due.append(key)
        ended: list[tuple[K, Spell]] = []
        for key, spell in list(self.spells.items()):
            if key in held:
                continue
            spell.gone = spell.gone or now
            if now - spell.last > self.grace:
                del self.spells[key]
                if spell.fired:
                    ended.append((key, spell))
        return due, ended

    def clear(self) -> None:
        self.spells.clear()

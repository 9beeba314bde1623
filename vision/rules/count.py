"""Count: many objects in a zone for a while (queue, crowding, congestion of slow vehicles)."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from hub.config.rules import Count
from vision.detections import Detections
from vision.rules.base import GRACE, Hit, Spells, ZonedRule, seconds, tracked
from vision.zones import PolygonZone

ZONE = "zone"
SPEED_WINDOW = 4.0  # seconds of anchor history a speed is measured over
FORGET = 30.0  # seconds: the history of a track unseen this long is dropped


class Speedometer:
    """Speed of each track in pixels per second, from its recent anchor history.

    The speed is the straight-line displacement from the oldest position kept to the current
    one, over the time between them. Kept: the positions of the last `window` seconds and the
    latest one before them, so a track seen in two frames further apart still has a speed.
    A track seen for the first time (or untracked) has no speed: NaN.
    """

    def __init__(self, window: float = SPEED_WINDOW, forget: float = FORGET) -> None:
        self.window = timedelta(seconds=window)
        self.forget = timedelta(seconds=forget)
        self._history: dict[int, deque[tuple[datetime, float, float]]] = {}

    def update(self, detections: Detections, now: datetime) -> npt.NDArray[np.float64]:
        """Record the anchors of a frame's detections and return their speeds (NaN if unknown)."""
        speeds = np.full(len(detections), np.nan)
        anchors = detections.anchors
        for row, track in enumerate(detections.tracker_id.tolist()):
            if track < 0:
                continue
            x, y = float(anchors[row, 0]), float(anchors[row, 1])
            history = self._history.setdefault(track, deque())
            while len(history) >= 2 and history[1][0] <= now - self.window:
                history.popleft()
            if history and history[0][0] < now:
                then, x0, y0 = history[0]
                speeds[row] = np.hypot(x - x0, y - y0) / (now - then).total_seconds()
            history.append((now, x, y))
        for track in [t for t, h in self._history.items() if now - h[-1][0] > self.forget]:
            del self._history[track]
        return speeds

    def clear(self) -> None:
        self._history.clear()


class CountRule(ZonedRule[Count]):
    """Fires once at least `min_count` objects have stood in the zone for `min_duration`.

    With `max_speed`, only tracked objects whose measured speed (see `Speedometer`) is below it
    count; an object whose speed is not known yet does not. A count dipping below `min_count`
    for frames spanning at most `grace` is bridged; longer, the occurrence clears at the first
    frame below. Payload: the count in the firing frame and the largest count of the occurrence.
    """

    def __init__(self, config: Count, tz: ZoneInfo, zone: PolygonZone, grace: float = GRACE) -> None:
        super().__init__(config, tz, zone, grace)
        self.spells: Spells[str] = Spells(timedelta(seconds=config.min_duration), self.grace)
        self.speedometer = Speedometer()

    def _observe(self, detections: Detections, now: datetime) -> list[Hit]:
        counted = self.in_zone(detections)
        if self.config.max_speed is not None:
            # Speeds are measured before the zone test: a track entering the zone has a history.
            speeds = self.speedometer.update(detections, now)
            slow = self.zone.trigger(detections) & (speeds < self.config.max_speed)
            counted = detections[slow]
        n = len(counted)
        due, ended = self.spells.step([ZONE] if n >= self.config.min_count else [], now)
        hits = [
            self._clear(ZONE, spell.gone or now, {"reason": "below_min_count", "max_count": spell.peak})
            for _, spell in ended
        ]
        spell = self.spells.spells.get(ZONE)
        if spell is not None and spell.last == now:
            spell.peak = max(spell.peak, n)
        if due and spell is not None:
            tracks, boxes = tracked(counted)
            hits.append(
                self._fire(
                    ZONE,
                    spell.since,
                    now,
                    tracks=tracks,
                    boxes=boxes,
                    detail={
                        "count": n,
                        "max_count": spell.peak,
                        "min_count": self.config.min_count,
                        "max_speed": self.config.max_speed,
                        "duration": seconds(now - spell.since),
                    },
                )
            )
        return hits

    def _reset(self) -> None:
        self.spells.clear()
        self.speedometer.clear()

"""Absence: a post left empty for longer than `max_absence` during the schedule (离岗)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hub.config.rules import Absence
from vision.detections import Detections
from vision.rules.base import GRACE, Hit, ZonedRule, iso, seconds, tracked
from vision.zones import PolygonZone

POST = "post"  # the one subject of the rule: the post zone


@dataclass
class _Return:
    """Someone back at a post that is reported empty, not yet confirmed."""

    since: datetime  # the first frame showing someone
    frames: int = 1
    present: int = 1


class AbsenceRule(ZonedRule[Absence]):
    """Fires when the post zone has shown none of the labels for `max_absence`.

    - Emptiness counts from the last frame that showed someone, or from the moment the schedule
      opened if that is later: time outside the schedule never counts. Missed detections and
      missing frames therefore cannot fire it early; the rule fires in the first frame, showing
      the post empty, in which the emptiness has lasted `max_absence`.
    - Once fired, a return must be confirmed: it clears once someone has been back for
      `smoothing` seconds, in the current frame and in at least half of the frames since the
      first one that showed them (a missed detection is tolerated; a single spurious one does not
      clear). The clear is stamped with that first frame: the moment the post was manned again.
      A return whose frames turn mostly empty is dropped and the next one starts afresh.
    - Before it fires, any frame showing someone restarts the emptiness.
    """

    def __init__(self, config: Absence, tz: ZoneInfo, zone: PolygonZone, grace: float = GRACE) -> None:
        super().__init__(config, tz, zone, grace)
        self.max_absence = timedelta(seconds=config.max_absence)
        self.smoothing = timedelta(seconds=config.smoothing)
        self.last_seen: datetime | None = None
        self._back: _Return | None = None

    def _observe(self, detections: Detections, now: datetime) -> list[Hit]:
        inside = self.in_zone(detections)
        present = len(inside) > 0
        if not self.firing:
            if present:
                self.last_seen = now
                return []
            return self._check_empty(now)
        if self._back is None:
            if not present:
                return []
            self._back = _Return(now)
        else:
            self._back.frames += 1
            self._back.present += present
            if 2 * self._back.present < self._back.frames:
                self._back = None
                return []
        back = self._back
        if not present or now - back.since < self.smoothing:
            return []
        self._back, self.last_seen = None, now
        tracks, _ = tracked(inside)
        return [self._clear(POST, back.since, {"reason": "returned", "confirmed_at": iso(now)}, tracks)]

    def _check_empty(self, now: datetime) -> list[Hit]:
        assert self.opened_at is not None  # set by the schedule gate before any frame is observed
        since = self.opened_at if self.last_seen is None else max(self.last_seen, self.opened_at)
        empty_for = now - since
        if empty_for < self.max_absence:
            return []
        return [
            self._fire(
                POST,
                since,
                now,
                detail={"absent_for": seconds(empty_for), "max_absence": self.config.max_absence},
            )
        ]

    def _reset(self) -> None:
        self.last_seen, self._back = None, None

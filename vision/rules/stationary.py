"""Stationary: a tracked object that stays put in a zone (illegal parking, 睡岗)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from hub.config.rules import Stationary
from vision.detections import Detections, box_iou
from vision.rules.base import GRACE, Hit, ZonedRule, seconds
from vision.zones import PolygonZone, box_tuple

SWITCH_IOU = 0.5  # a new track this much over a lost one's last box is the same object


@dataclass
class _Still:
    """One object keeping still: where it settled, since when, and where it was last seen."""

    subject: str  # names its occurrence: the tracker id it started under, kept across id switches
    first_track: int
    origin: npt.NDArray[np.float32]  # box centre when it settled
    since: datetime
    last: datetime  # the latest frame it was seen in the zone
    box: npt.NDArray[np.float32]
    gone: datetime | None = None  # the first frame after `last` it was not seen in the zone


class StationaryRule(ZonedRule[Stationary]):
    """Fires per track whose box centre has stayed within `max_movement` pixels of where it
    settled, in the zone, for `min_duration`.

    That is what motionless means here: a clerk whose box centre shifts by more than
    `max_movement` full-frame pixels has moved. The camera's motion gate compares the rule's zone
    finely enough to see such a shift (`vision.motion.WatchedRegion`), so a skipped frame never
    hides it; below a few pixels the detector's own jitter on a still person is of that size.

    - Moving further restarts the timer at the new place (and clears, at that frame, an
      occurrence that had fired).
    - A track missing from some frames, or seen outside the zone, keeps its timer for `grace`
      seconds of frames; after that it has left, and a fired occurrence is cleared at the first
      frame that missed it.
    - Trackers lose objects that stand still for long and find them again under a new id: a new
      track whose box overlaps a lost one's last box by IoU >= 0.5 within `grace` takes over
      its timer, and its occurrence (the same key: the hub sees one finding).
    - Untracked detections are ignored.
    """

    def __init__(self, config: Stationary, tz: ZoneInfo, zone: PolygonZone, grace: float = GRACE) -> None:
        super().__init__(config, tz, zone, grace)
        self.min_duration = timedelta(seconds=config.min_duration)
        self.still: dict[int, _Still] = {}  # by current tracker id

    def _observe(self, detections: Detections, now: datetime) -> list[Hit]:
        inside = self.in_zone(detections)
        inside = inside[inside.tracker_id >= 0]
        tracks = [int(t) for t in inside.tracker_id]
        self._take_over(inside, tracks, now)
        hits: list[Hit] = []
        centres = inside.centers
        for row, track in enumerate(tracks):
            hits += self._follow(track, centres[row], inside.xyxy[row], now)
        seen = set(tracks)
        for track, still in list(self.still.items()):
            if track in seen:
                continue
            still.gone = still.gone or now
            if now - still.last > self.grace:
                del self.still[track]
                if still.subject in self._firing:
                    hits.append(self._clear(still.subject, still.gone, {"reason": "left"}))
        return hits

    def _take_over(self, inside: Detections, tracks: list[int], now: datetime) -> None:
        """Give the timers of lost tracks to new tracks found where they were (id switches)."""
        seen = set(tracks)
        lost = [t for t, s in self.still.items() if t not in seen and now - s.last <= self.grace]
        new = [row for row, t in enumerate(tracks) if t not in self.still]
        if not lost or not new:
            return
        lost_boxes = np.stack([self.still[t].box for t in lost])
        iou = box_iou(inside.xyxy[new], lost_boxes)
        while iou.size and iou.max() >= SWITCH_IOU:
            i, j = np.unravel_index(int(iou.argmax()), iou.shape)
            self.still[tracks[new[i]]] = self.still.pop(lost[j])
            iou[i, :], iou[:, j] = -1.0, -1.0

    def _follow(
        self, track: int, centre: npt.NDArray[np.float32], box: npt.NDArray[np.float32], now: datetime
    ) -> list[Hit]:
        still = self.still.get(track)
        if still is None:
            self._settle(track, centre, box, now)
            return []
        hits: list[Hit] = []
        moved = float(np.hypot(*(centre - still.origin)))
        if moved > self.config.max_movement:
            if still.subject in self._firing:
                hits.append(self._clear(still.subject, now, {"reason": "moved", "moved": round(moved, 1)}))
            del self.still[track]
            self._settle(track, centre, box, now)
            return hits
        still.last, still.gone, still.box = now, None, box
        still_for = now - still.since
        if still.subject not in self._firing and still_for >= self.min_duration:
            hits.append(
                self._fire(
                    still.subject,
                    still.since,
                    now,
                    tracks=(track,),
                    boxes=(box_tuple(box),),
                    detail={
                        "duration": seconds(still_for),
                        "moved": round(moved, 1),
                        "max_movement": self.config.max_movement,
                        "first_track": still.first_track,
                    },
                )
            )
        return hits

    def _settle(
        self, track: int, centre: npt.NDArray[np.float32], box: npt.NDArray[np.float32], now: datetime
    ) -> None:
        # A track id that comes back while another track carries its old timer needs a new name.
        used = {s.subject for s in self.still.values()}
        subject, n = str(track), 1
        while subject in used:
            n += 1
            subject = f"{track}-{n}"
        self.still[track] = _Still(subject, track, centre, now, now, box)

    def _reset(self) -> None:
        self.still.clear()

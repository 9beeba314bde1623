"""Presence of a label in a zone (pedestrian on an expressway, rodent, after hours) and falls."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hub.config.rules import Fall, Presence
from vision.detections import Detections
from vision.rules.base import GRACE, Hit, Spells, VisionRule, ZonedRule, seconds, tracked
from vision.zones import PolygonZone, box_tuple

ZONE = "zone"  # the one subject of a zone-wide rule


class PresenceRule(ZonedRule[Presence]):
    """Fires once objects of the labels have stood in the zone for `min_duration`.

    One occurrence for the zone, whoever is in it: it starts with the first frame showing one
    and fires in the first frame, `min_duration` later, that still shows one. Frames showing
    none are bridged while they span at most `grace`; after that the occurrence ends, cleared
    at the first frame that showed the zone empty.
    """

    def __init__(self, config: Presence, tz: ZoneInfo, zone: PolygonZone, grace: float = GRACE) -> None:
        super().__init__(config, tz, zone, grace)
        self.spells: Spells[str] = Spells(timedelta(seconds=config.min_duration), self.grace)

    def _observe(self, detections: Detections, now: datetime) -> list[Hit]:
        inside = self.in_zone(detections)
        due, ended = self.spells.step([ZONE] if len(inside) else [], now)
        hits = [self._clear(ZONE, spell.gone or now, {"reason": "gone"}) for _, spell in ended]
        if due:
            since = self.spells.spells[ZONE].since
            tracks, boxes = tracked(inside)
            labels = sorted({str(label) for label in inside.labels})
            hits.append(
                self._fire(
                    ZONE,
                    since,
                    now,
                    tracks=tracks,
                    boxes=boxes,
                    detail={"labels": list(labels), "count": len(inside), "duration": seconds(now - since)},
                )
            )
        return hits

    def _reset(self) -> None:
        self.spells.clear()


class FallRule(VisionRule[Fall]):
    """Fires per track once a fallen person (`person_fallen` by default) has been seen anywhere
    in the picture for `min_duration`; clears when the track has been gone for `grace`.

    Untracked detections are ignored: a fall is followed by its track.
    """

    def __init__(self, config: Fall, tz: ZoneInfo, grace: float = GRACE) -> None:
        super().__init__(config, tz)
        self.spells: Spells[int] = Spells(timedelta(seconds=config.min_duration), timedelta(seconds=grace))

    def _observe(self, detections: Detections, now: datetime) -> list[Hit]:
        rows = {int(t): i for i, t in enumerate(detections.tracker_id) if t >= 0}
        due, ended = self.spells.step(rows, now)
        hits = [self._clear(str(track), spell.gone or now, {"reason": "gone"}) for track, spell in ended]
        for track in due:
            row = rows[track]
            since = self.spells.spells[track].since
            hits.append(
                self._fire(
                    str(track),
                    since,
                    now,
                    tracks=(track,),
                    boxes=(box_tuple(detections.xyxy[row]),),
                    detail={
                        "label": str(detections.labels[row]),
                        "confidence": round(float(detections.confidence[row]), 3),
                        "duration": seconds(now - since),
                    },
                )
            )
        return hits

    def _reset(self) -> None:
        self.spells.clear()

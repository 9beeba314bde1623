"""Line crossing in a forbidden direction (wrong-way driving)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hub.config.rules import LineCrossing
from vision.detections import Detections
from vision.rules.base import Hit, VisionRule
from vision.zones import DirectedLine, LineCounter


class LineCrossingRule(VisionRule[LineCrossing]):
    """One finding per track crossing the line segment in the `forbidden` direction.

    A crossing is instantaneous: it gives a fire hit and its clear hit, both stamped with the
    frame that completed it, so the hub opens and closes one alert. Left and right are as seen
    on screen looking from the line's start to its end (see `DirectedLine`). A track counts
    once per direction, and its side changes only `margin` pixels beyond the line, so an object
    jittering on the line gives no repeats (see `LineCounter`). Crossings in the allowed
    direction are followed but produce nothing.
    """

    def __init__(self, config: LineCrossing, tz: ZoneInfo, line: DirectedLine, margin: float = 5.0) -> None:
        super().__init__(config, tz)
        self.line = line
        self.margin = margin
        self.counter = LineCounter(line, margin)

    def _observe(self, detections: Detections, now: datetime) -> list[Hit]:
        hits: list[Hit] = []
        for crossing in self.counter.update(detections):
            if crossing.direction != self.config.forbidden:
                continue
            subject = str(crossing.tracker_id)
            fired = self._fire(
                subject,
                now,
                now,
                tracks=(crossing.tracker_id,),
                boxes=(crossing.box,),
                detail={"direction": crossing.direction, "point": list(crossing.point)},
            )
            hits += [fired, self._clear(subject, now, {"reason": "crossed", "direction": crossing.direction})]
        return hits

    def _reset(self) -> None:
        self.counter.reset()

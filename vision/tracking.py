"""ByteTrack (from the `trackers` library) over our `Detections`, the same whatever the detector."""

from __future__ import annotations

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker
from trackers.utils.iou import BIoU

from hub.config.vision import Tracking
from vision.detections import NO_TRACK, Detections

_TRACKER_FPS = 30.0  # ByteTrack counts its lost-track buffer in frames of 30 fps
# How far boxes are widened, per second between frames, before they are matched (buffered IoU,
# Yang et al., WACV 2023). A walker covers about 2.6 widths of its own box a second (1.3 m/s,
# a body 0.5 m wide): at 2 fps a box lands beside the last one, not on it, and plain IoU never
# matches it. Widened by 1.5 x the gap on each side, boxes of one walker still overlap at 1 fps
# (IoU about 0.2), while a person standing still matches its own box far better than a neighbour's.
_BUFFER_PER_SECOND = 1.5
_MAX_BUFFER = 3.0  # 2 s between frames; slower rates (0.5 fps) track standing people only


class Tracker:
    """Gives each detection of one camera a stable id across frames taken at irregular times."""

    def __init__(self, settings: Tracking | None = None) -> None:
        settings = settings or Tracking()
        self._iou = BIoU(buffer_ratio=0.0)
        self._last: float | None = None
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(settings.lost_after * _TRACKER_FPS)),
            frame_rate=_TRACKER_FPS,
            track_activation_threshold=settings.activation,
            # The split of ByteTrack's two passes: only the first pass's boxes start tracks, so it
            # sits at `activation` (a fixed 0.5 here once left everyone seen at 0.35-0.5 untracked).
            high_conf_det_threshold=settings.activation,
            minimum_consecutive_frames=1,
            iou=self._iou,
        )

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """The same detections with `tracker_id` set (`NO_TRACK` for boxes no track took).

        `timestamp` is the frame's time in seconds (any origin, increasing): the motion model
        predicts over the real gap and the match radius grows with it, so a person walking past
        a camera analysed at 1 or 2 frames a second keeps one id, as at 25.
        """
        gap = 0.0 if self._last is None else max(0.0, timestamp - self._last)
        self._last = timestamp
        self._iou.buffer_ratio = min(_MAX_BUFFER, _BUFFER_PER_SECOND * gap)
        boxes = sv.Detections(
            xyxy=detections.xyxy.astype(np.float32),
            confidence=detections.confidence,
            class_id=detections.class_id,
            data={"row": np.arange(len(detections))},
        )
        tracked = self._tracker.update(boxes, timestamp=timestamp)
        ids = np.full(len(detections), NO_TRACK, np.int64)
        if len(tracked) and tracked.tracker_id is not None:
            ids[np.asarray(tracked.data["row"], np.int64)] = tracked.tracker_id
        return detections.with_tracks(ids)

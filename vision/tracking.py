"""ByteTrack (from the `trackers` library) over our `Detections`, the same whatever the detector."""

from __future__ import annotations

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from hub.config.vision import Tracking
from vision.detections import NO_TRACK, Detections

_TRACKER_FPS = 30.0  # ByteTrack counts its lost-track buffer in frames of 30 fps


class Tracker:
    """Gives each detection of one camera a stable id across frames taken at irregular times."""

    def __init__(self, settings: Tracking | None = None) -> None:
        settings = settings or Tracking()
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(settings.lost_after * _TRACKER_FPS)),
            frame_rate=_TRACKER_FPS,
            track_activation_threshold=settings.activation,
            # The split of ByteTrack's two passes: only the first pass's boxes start tracks, so it
            # sits at `activation` (a fixed 0.5 here once left everyone seen at 0.35-0.5 untracked).
            high_conf_det_threshold=settings.activation,
            minimum_consecutive_frames=1,
        )

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """The same detections with `tracker_id` set (`NO_TRACK` for boxes no track took).

        `timestamp` is the frame's time in seconds (any origin, increasing): the motion model
        predicts over the real gap, so a camera analysed at 1 frame a second tracks as well as at 25.
        """
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

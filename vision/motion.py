"""Motion gating: run the detector only when the picture changed, as Frigate does."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from capture.frames import Image
from hub.config.vision import Motion

_WIDTH = 160  # pictures are compared at this width: enough for people, cheap for 16 cameras
_LEVEL = 25  # grey-level difference that counts a pixel as changed (sensor noise stays below)


class MotionGate:
    """Says, per frame, whether anything moved since the last frame that was detected on.

    The comparison is against the picture at the last detection, not the previous frame, so a
    slow walk that changes little between two frames still adds up to a detection.
    """

    def __init__(self, settings: Motion) -> None:
        self.settings = settings
        self._reference: npt.NDArray[np.uint8] | None = None
        self._last_run = -float("inf")
        self.changed = 0.0  # share of the picture that changed, at the last call
        self.skipped = 0

    def _small(self, image: Image) -> npt.NDArray[np.uint8]:
        height, width = image.shape[:2]
        size = (_WIDTH, max(1, round(height * _WIDTH / width)))
        grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), np.uint8)

    def should_detect(self, image: Image, now: float) -> bool:
        """True when the frame must go to the detector; `now` is the frame's time in seconds (a
        recording replayed faster than real time keeps its own pace; a clock set back detects)."""
        if not self.settings.enabled:
            return True
        small = self._small(image)
        if self._reference is None or self._reference.shape != small.shape:
            self.changed = 1.0
        else:
            diff = cv2.absdiff(small, self._reference)
            self.changed = float(np.count_nonzero(diff > _LEVEL)) / diff.size
        since = now - self._last_run
        if self.changed >= self.settings.threshold or not 0 <= since < self.settings.max_skip:
            self._reference, self._last_run = small, now
            return True
        self.skipped += 1
        return False

"""Motion gating: run the detector only when the picture changed, as Frigate does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from capture.frames import Image
from hub.config.vision import Motion

_WIDTH = 160  # pictures are compared at this width: enough for people, cheap for 16 cameras
_LEVEL = 25  # grey-level difference that counts a pixel as changed (sensor noise stays below)
# A movement shows in the comparison once it spans this many of its pixels: at 160 px wide a
# 1280 px frame shrinks 8 times, and a clerk shifting 4 px changed nothing the gate could see.
_SPAN = 2.0

Grey = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class WatchedRegion:
    """Part of the picture where a rule must see movements of `finest` pixels (full frame)."""

    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in full-frame pixels
    finest: float


class MotionGate:
    """Says, per frame, whether anything moved since the last frame that was detected on.

    The comparison is against the picture at the last detection, not the previous frame, so a
    slow walk that changes little between two frames still adds up to a detection. The whole
    picture is compared small; each `WatchedRegion` (a stationary rule's zone, which must see a
    clerk shift by its `max_movement`) is compared at a scale where that movement spans two
    pixels, its changed share against the same threshold.
    """

    def __init__(self, settings: Motion, watched: Sequence[WatchedRegion] = ()) -> None:
        self.settings = settings
        self.watched = list(watched)
        self._reference: list[Grey] | None = None
        self._last_run = -float("inf")
        self.changed = 0.0  # largest share of a compared picture that changed, at the last call
        self.skipped = 0

    @staticmethod
    def _grey(image: Image, scale: float) -> Grey:
        height, width = image.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), np.uint8)

    def _pictures(self, image: Image) -> list[Grey]:
        """The whole picture small, then each watched region at its own scale."""
        width = image.shape[1]
        out = [self._grey(image, _WIDTH / width)]
        for region in self.watched:
            x1, y1, x2, y2 = region.box
            crop = image[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)]
            if crop.size:
                out.append(self._grey(crop, min(1.0, max(_WIDTH / width, _SPAN / region.finest))))
        return out

    def should_detect(self, image: Image, now: float) -> bool:
        """True when the frame must go to the detector; `now` is the frame's time in seconds (a
        recording replayed faster than real time keeps its own pace; a clock set back detects)."""
        if not self.settings.enabled:
            return True
        pictures = self._pictures(image)
        reference = self._reference
        if reference is None or [p.shape for p in reference] != [p.shape for p in pictures]:
            self.changed = 1.0
        else:
            pairs = zip(pictures, reference, strict=True)
            self.changed = float(max(np.count_nonzero(cv2.absdiff(p, r) > _LEVEL) / p.size for p, r in pairs))
        since = now - self._last_run
        if self.changed >= self.settings.threshold or not 0 <= since < self.settings.max_skip:
            self._reference, self._last_run = pictures, now
            return True
        self.skipped += 1
        return False

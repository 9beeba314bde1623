"""Motion gating: run the detector only when the picture changed, and say where, as Frigate does."""

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
Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in full-frame pixels


@dataclass(frozen=True)
class WatchedRegion:
    """Part of the picture where a rule must see movements of `finest` pixels (full frame)."""

    box: Box
    finest: float


class MotionGate:
    """Says, per frame, whether anything moved since the last frame that was detected on.

    The comparison is against the picture at the last detection, not the previous frame, so a
    slow walk that changes little between two frames still adds up to a detection. The whole
    picture is compared small; each `WatchedRegion` (a stationary rule's zone, which must see a
    clerk shift by its `max_movement`) is compared at a scale where that movement spans two
    pixels, its changed share against the same threshold.

    When it says detect, `moving` tells where: the boxes around what changed in the small
    picture (and each watched region that changed), or None for the whole picture: the first
    frame, a run forced by `max_skip`, and once every `max_skip` seconds even in a busy scene, so
    that an object that stopped moving is looked at again.
    """

    def __init__(self, settings: Motion, watched: Sequence[WatchedRegion] = ()) -> None:
        self.settings = settings
        self.watched = list(watched)
        self._reference: list[Grey] | None = None
        self._last_run = self._last_whole = -float("inf")
        self.moving: list[Box] | None = None  # where to detect, at the last detection; None: everywhere
        self.changed = 0.0  # largest share of a compared picture that changed, at the last call
        self.skipped = 0

    @staticmethod
    def _grey(image: Image, scale: float) -> Grey:
        height, width = image.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), np.uint8)

    def _pictures(self, image: Image) -> tuple[list[Grey], list[Box]]:
        """The whole picture small, then each watched region inside it at its own scale; and the
        boxes of those regions."""
        width = image.shape[1]
        out, boxes = [self._grey(image, _WIDTH / width)], []
        for region in self.watched:
            x1, y1, x2, y2 = region.box
            crop = image[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)]
            if crop.size:
                out.append(self._grey(crop, min(1.0, max(_WIDTH / width, _SPAN / region.finest))))
                boxes.append(region.box)
        return out, boxes

    def should_detect(self, image: Image, now: float) -> bool:
        """True when the frame must go to the detector; `now` is the frame's time in seconds (a
        recording replayed faster than real time keeps its own pace; a clock set back detects).
        Where it moved is then in `moving`."""
        if not self.settings.enabled:
            self.moving = None
            return True
        pictures, watched = self._pictures(image)
        reference = self._reference
        shares: list[float] = []
        if reference is None or [p.shape for p in reference] != [p.shape for p in pictures]:
            self.changed, masks = 1.0, None
        else:
            masks = [cv2.absdiff(p, r) > _LEVEL for p, r in zip(pictures, reference, strict=True)]
            shares = [np.count_nonzero(mask) / mask.size for mask in masks]
            self.changed = float(max(shares))
        since = now - self._last_run
        if self.changed < self.settings.threshold and 0 <= since < self.settings.max_skip:
            self.skipped += 1
            return False
        self._reference, self._last_run = pictures, now
        moving = None
        if masks is not None:
            changed = zip(watched, shares[1:], strict=True)
            moving = _boxes(masks[0], image.shape[1] / pictures[0].shape[1])
            moving += [box for box, share in changed if share >= self.settings.threshold]
        if not moving or not 0 <= now - self._last_whole < self.settings.max_skip:
            moving, self._last_whole = None, now
        self.moving = moving
        return True


def _boxes(mask: npt.NDArray[np.bool_], scale: float) -> list[Box]:
    """The boxes around the changed parts of a small picture's `mask`, in full-frame pixels
    (`scale` of them per mask pixel); parts a few pixels apart (a body's edges) join."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2)
    contours, _ = cv2.findContours(grown, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        out.append(
            (int(x * scale), int(y * scale), int(np.ceil((x + w) * scale)), int(np.ceil((y + h) * scale)))
        )
    return out

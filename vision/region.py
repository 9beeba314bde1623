"""Detect where it matters: the part of a camera's picture its rules' zones cover, cut out at the scale
the whole picture would be detected at, and the boxes found there put back in the picture's pixels.

    region = Region.of(rules, zones, margin=0.2, picture=(1080, 1920))
    crop = region.cut(image, imgsz=640)          # the zones' box, scaled as the whole frame would be
    found = crop.restore(detector.detect([crop.image])[0])

A hall camera whose post zone covers a fifth of the picture sends the detector a fifth of the
pixels: with a model of dynamic input size, a fraction of a full frame's cost. The crop keeps the
full frame's scale and its grid, so a person is seen at the same size as in the whole picture and
the boxes agree with a whole-frame detection (Frigate cuts motion regions the same way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from capture.frames import Image
from hub.config.rules import CameraRule, LineCrossing
from hub.config.types import Point
from vision.detections import Detections
from vision.rules import VisionRule

# A region covering at least this share of the picture's area is detected whole: the cut would
# save little and a person at the edge would lose the context around them.
WHOLE_PICTURE = 0.9
STRIDE = 32  # the largest stride of a YOLO detection head: its grid of cells


@dataclass(frozen=True, slots=True)
class Crop:
    """Part of a picture scaled for the detector; `restore` maps the boxes found in it back."""

    image: Image
    left: int  # where the crop starts in the scaled picture (detector pixels)
    top: int
    scale: float  # detector pixels per picture pixel

    def restore(self, found: Detections) -> Detections:
        """`found` (in this crop's pixels) in the whole picture's pixels."""
        if not len(found):
            return found
        offset = np.array([self.left, self.top, self.left, self.top], np.float32)
        xyxy = (found.xyxy + offset) / np.float32(self.scale)
        return Detections(xyxy, found.confidence, found.class_id, found.labels, found.tracker_id)


@dataclass(frozen=True, slots=True)
class Region:
    """A box (left, top, right, bottom, in picture pixels) to detect in; None: the whole picture."""

    box: tuple[int, int, int, int] | None

    @classmethod
    def of(
        cls,
        rules: Sequence[VisionRule[CameraRule]],
        zones: Mapping[str, Sequence[Point]],
        margin: float | None,
        picture: tuple[int, int],
    ) -> Region:
        """The box around every zone the `rules` use, widened by `margin` times the picture's
        height on each side and kept inside the `picture` (height, width).

        The whole picture when `margin` is None, there are no rules, a rule has no zone, or the
        box covers nearly all of it. A line-crossing rule sees the whole picture: a crossing needs
        the walker tracked on each side over several frames, and at 1 analysed frame a second a
        walker covers 220 px of a 720p hall between two of them, more than any margin around the
        line would hold.
        """
        height, width = picture
        points: list[Point] = []
        for rule in rules:
            config = rule.config
            zone = getattr(config, "zone", None)
            if isinstance(config, LineCrossing) or not isinstance(zone, str):
                return cls(None)
            points.extend(zones[zone])
        if margin is None or not points:
            return cls(None)
        xs, ys = np.asarray([p[0] for p in points]), np.asarray([p[1] for p in points])
        pad = margin * height
        left, top = max(0, int(xs.min() - pad)), max(0, int(ys.min() - pad))
        right, bottom = min(width, int(np.ceil(xs.max() + pad))), min(height, int(np.ceil(ys.max() + pad)))
        area = (right - left) * (bottom - top)
        if right <= left or bottom <= top or area >= WHOLE_PICTURE * width * height:
            return cls(None)
        return cls((left, top, right, bottom))

    def cut(self, image: Image, imgsz: int, stride: int = STRIDE) -> Crop:
        """The region of `image` at the scale the whole picture fits `imgsz` (up or down).

        The picture is scaled first and the crop cut from it on the model's grid (its corner on a
        multiple of `stride`, its size padded as the whole picture's would be), so the detector
        sees the very pixels, in the same cells, that a whole-picture run sees: the boxes agree
        to a pixel or two, only the context outside the crop is missing.
        """
        height, width = image.shape[:2]
        scale = imgsz / max(height, width)
        size = (round(width * scale), round(height * scale))
        scaled = image if size == (width, height) else cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        full_w, full_h = size
        left, top, right, bottom = self.box or (0, 0, width, height)
        x0, y0 = int(left * scale) // stride * stride, int(top * scale) // stride * stride
        x1, y1 = min(full_w, int(np.ceil(right * scale))), min(full_h, int(np.ceil(bottom * scale)))
        if x1 <= x0 or y1 <= y0:  # drawn for another resolution than the stream's: detect it whole
            x0, y0, x1, y1 = 0, 0, full_w, full_h
        # The same remainder to the stride as the whole picture: the detector pads both alike.
        x1 += (full_w - x1) % stride
        y1 += (full_h - y1) % stride
        part = np.asarray(scaled[y0:y1, x0:x1], np.uint8)
        return Crop(np.ascontiguousarray(part), x0, y0, scale)

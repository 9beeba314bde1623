"""Detect where it matters: the part of a camera's picture its rules' zones cover, cut out at the scale
the whole picture would be detected at, and the boxes found there put back in the picture's pixels.

    region = Region.of(rules, zones, margin=0.2, picture=(1080, 1920))
    crop = region.cut(image, imgsz=640)          # the zones' box, scaled as the whole frame would be
    found = crop.restore(detector.detect([crop.image])[0])

A hall camera whose post zone covers a fifth of the picture sends the detector a fifth of the
pixels: with a model of dynamic input size, a fraction of a full frame's cost. The crop keeps the
full frame's scale and its grid, so a person is seen at the same size as in the whole picture and
the boxes agree with a whole-frame detection (Frigate cuts motion regions the same way).

Where the motion gate says what moved, only those parts of the region are cut (`Region.parts`):

    crops = cut(image, [part.box for part in region.parts(gate.moving, picture)], imgsz=640)
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
# A moving part is widened to at least this share of the picture's height each way: a clerk's
# shift changes only the edges of their body, and the detector must see all of it (a person in a
# hall view stands about 0.4 of the height).
PERSON = 0.45
# Moving parts covering more than this share of the region are not worth cutting one by one: each
# cut has its own fixed cost and loses the context around it; the region is detected whole.
MOVING_WORTH = 0.6
# Around a moving part, this share of the picture's height on each side: the detector needs some
# of the scene around a person to score them as a whole-picture run does.
CONTEXT = 0.1
MOST_PARTS = 4  # more moving parts than this: the region whole (a crowd moves everywhere)

Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Crop:
    """Part of a picture scaled for the detector; `restore` maps the boxes found in it back."""

    image: Image
    left: int  # where the crop starts in the scaled picture (detector pixels)
    top: int
    scale: float  # detector pixels per picture pixel

    @property
    def box(self) -> Box:
        """What the crop shows, in the picture's pixels (its grid may widen it past its region)."""
        height, width = self.image.shape[:2]
        left, top = self.left / self.scale, self.top / self.scale
        right, bottom = (self.left + width) / self.scale, (self.top + height) / self.scale
        return int(left), int(top), int(np.ceil(right)), int(np.ceil(bottom))

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

    box: Box | None

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

    def parts(self, moving: Sequence[Box], picture: tuple[int, int]) -> list[Region]:
        """Where to detect in this region when only the `moving` boxes changed: each widened to
        hold a person, kept inside the region, overlapping ones joined; the region itself when
        they would cover most of it or are too many."""
        height, width = picture
        left, top, right, bottom = self.box or (0, 0, width, height)
        side, pad = PERSON * height, CONTEXT * height
        boxes: list[Box] = []
        for x1, y1, x2, y2 in moving:
            x1, y1, x2, y2 = max(left, x1), max(top, y1), min(right, x2), min(bottom, y2)
            if x2 > x1 and y2 > y1:  # widened inside the region: a walker at its edge is seen whole
                x1, x2 = _widened(x1, x2, max(side, x2 - x1 + 2 * pad), left, right)
                y1, y2 = _widened(y1, y2, max(side, y2 - y1 + 2 * pad), top, bottom)
                boxes.append((x1, y1, x2, y2))
        boxes = _joined(boxes)
        area = sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in boxes)
        if len(boxes) > MOST_PARTS or area > MOVING_WORTH * (right - left) * (bottom - top):
            return [self]
        return [Region(box) for box in boxes]

    def cut(self, image: Image, imgsz: int, stride: int = STRIDE) -> Crop:
        """The region of `image` at the scale the whole picture fits `imgsz` (up or down); see `cut`."""
        return cut(image, [self.box], imgsz, stride)[0]


def _widened(start: int, end: int, least: float, low: int, high: int) -> tuple[int, int]:
    """The span `start`-`end` widened about its middle to at least `least` (as far as `low`-`high`
    allows), shifted to stay within `low`-`high`."""
    size = min(max(end - start, int(np.ceil(least))), high - low)
    first = min(max(low, (start + end - size) // 2), high - size)
    return first, first + size


def _joined(boxes: list[Box]) -> list[Box]:
    """`boxes` with every two that overlap replaced by the box around both, until none overlap."""
    out = list(boxes)
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(out):
            for j in range(i + 1, len(out)):
                b = out[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out


def cut(image: Image, boxes: Sequence[Box | None], imgsz: int, stride: int = STRIDE) -> list[Crop]:
    """The `boxes` of `image` (None: all of it) at the scale the whole picture fits `imgsz`.

    The picture is scaled once and each crop cut from it on the model's grid (its corner on a
    multiple of `stride`, its size padded as the whole picture's would be), so the detector sees
    the very pixels, in the same cells, that a whole-picture run sees: the boxes agree to a pixel
    or two, only the context outside the crop is missing.
    """
    height, width = image.shape[:2]
    scale = imgsz / max(height, width)
    size = (round(width * scale), round(height * scale))
    scaled = image if size == (width, height) else cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    full_w, full_h = size
    crops = []
    for box in boxes:
        left, top, right, bottom = box or (0, 0, width, height)
        x0, y0 = int(left * scale) // stride * stride, int(top * scale) // stride * stride
        x1, y1 = min(full_w, int(np.ceil(right * scale))), min(full_h, int(np.ceil(bottom * scale)))
        if x1 <= x0 or y1 <= y0:  # drawn for another resolution than the stream's: detect it whole
            x0, y0, x1, y1 = 0, 0, full_w, full_h
        # The same remainder to the stride as the whole picture: the detector pads both alike.
        x1 += (full_w - x1) % stride
        y1 += (full_h - y1) % stride
        part = np.asarray(scaled[y0:y1, x0:x1], np.uint8)
        crops.append(Crop(np.ascontiguousarray(part), x0, y0, scale))
    return crops

"""The camera wall's picture of a camera: the analysed frame, scaled down, with the tracked boxes,
every zone and line of the camera, and a header with its name and the time; a small JPEG that the
analysis hands its sink every `vision.frame_every` seconds (`FrameRecorder`).

The boxes, labels and header are drawn by `vision.evidence.annotate` (CJK labels); the zones and
lines here, as outlines, since a camera may have several and none is the finding's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import cv2
import numpy as np

from capture.frames import Image
from hub.wording import Language
from vision.detections import Detections
from vision.evidence import annotate, to_jpeg

WIDTH = 640  # pixels across: enough to see who stands where on a wall of cameras, about 40 kB
QUALITY = 75
_ZONE = (0, 215, 255)  # BGR, as the evidence pictures draw a finding's zone and line
_LINE = (255, 128, 0)

Point = tuple[float, float]


def wall_picture(
    image: Image,
    tracked: Detections,
    *,
    title: str,
    at: datetime,
    zones: Mapping[str, Sequence[Point]],
    lines: Mapping[str, tuple[Point, Point]],
    language: Language = "zh",
    width: int = WIDTH,
) -> tuple[bytes, int, int]:
    """`image` at most `width` pixels across, annotated; returns (JPEG, width, height)."""
    height_in, width_in = image.shape[:2]
    scale = min(1.0, width / width_in)
    if scale < 1.0:
        size = (round(width_in * scale), max(1, round(height_in * scale)))
        small: Image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
    else:
        small = image.copy()
    thick = max(1, round(small.shape[1] / 640))
    for polygon in zones.values():
        points = np.asarray([(x * scale, y * scale) for x, y in polygon], np.int32).reshape(-1, 1, 2)
        cv2.polylines(small, [points], True, _ZONE, thick, cv2.LINE_AA)
    for start, end in lines.values():
        a, b = ((round(x * scale), round(y * scale)) for x, y in (start, end))
        cv2.arrowedLine(small, a, b, _LINE, thick + 1, cv2.LINE_AA, tipLength=0.05)
    boxes = replace(tracked, xyxy=(tracked.xyxy * scale).astype(np.float32)) if len(tracked) else tracked
    picture = annotate(small, boxes, title=title, at=at, language=language)
    return to_jpeg(picture, QUALITY), picture.shape[1], picture.shape[0]

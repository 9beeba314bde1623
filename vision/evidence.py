"""Evidence pictures: the frame of a finding with its boxes, track ids, zone or line and rule drawn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import cv2
import numpy as np

from capture.frames import Image
from vision.detections import NO_TRACK, Detections

Polygon = Sequence[tuple[float, float]]

_OTHER = (160, 160, 160)  # BGR: objects not involved in the finding
_HIT = (0, 0, 255)  # the objects the finding is about
_ZONE = (0, 215, 255)
_LINE = (255, 128, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(
    image: Image, text: str, origin: tuple[int, int], colour: tuple[int, int, int], scale: float
) -> None:
    (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = origin
    y = max(y, h + base)
    cv2.rectangle(image, (x, y - h - base), (x + w + 4, y + base // 2), colour, -1)
    cv2.putText(image, text, (x + 2, y - base // 2), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def annotate(
    image: Image,
    detections: Detections,
    *,
    title: str,
    at: datetime,
    hit_tracks: Sequence[int] = (),
    hit_boxes: Sequence[tuple[float, float, float, float]] = (),
    zone: Polygon | None = None,
    line: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> Image:
    """A copy of `image` with the finding drawn: zone or line, every box with label and track id
    (the finding's own in red), and a header with the rule and the time. Text is ASCII: ids, not
    display names, since OpenCV's fonts have no CJK glyphs."""
    out = image.copy()
    scale = max(0.5, out.shape[1] / 1600)
    thick = max(1, round(out.shape[1] / 640))
    if zone is not None:
        points = np.asarray(zone, np.int32).reshape(-1, 1, 2)
        shade = out.copy()
        cv2.fillPoly(shade, [points], _ZONE)
        cv2.addWeighted(shade, 0.2, out, 0.8, 0, dst=out)
        cv2.polylines(out, [points], True, _ZONE, thick, cv2.LINE_AA)
    if line is not None:
        start, end = (tuple(round(v) for v in p) for p in line)
        cv2.arrowedLine(out, start, end, _LINE, thick + 1, cv2.LINE_AA, tipLength=0.05)
    hits = set(hit_tracks)
    for box, label, track, conf in zip(
        detections.xyxy, detections.labels, detections.tracker_id, detections.confidence, strict=True
    ):
        colour = _HIT if track != NO_TRACK and int(track) in hits else _OTHER
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        name = f"{label} #{track} {conf:.2f}" if track != NO_TRACK else f"{label} {conf:.2f}"
        _text(out, name, (x1, y1 - 2), colour, scale * 0.8)
    for box in hit_boxes:
        x1, y1, x2, y2 = (round(v) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), _HIT, thick + 1)
    _text(out, f"{title}  {at:%Y-%m-%d %H:%M:%S %z}", (0, 0), (40, 40, 40), scale)
    return out


def to_jpeg(image: Image, quality: int = 85) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {image.shape} picture as JPEG")
    return bytes(data)

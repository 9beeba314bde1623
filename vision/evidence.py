"""Evidence pictures: the frame of a finding with its boxes, track ids, zone or line and rule drawn.

Shapes are drawn with OpenCV; text with Pillow in a CJK font (OpenCV's fonts have no Chinese
glyphs), so that a picture says "窗口人员离岗 · 1号窗口 · 2026-12-02 10:31:05 +0800". The font is the
first of `CJK_FONTS` present (Debian's fonts-noto-cjk or fonts-wqy-microhei, which the README's
commands install), or the file `OFFSITE_EVIDENCE_FONT` names.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as Pillow
from PIL import ImageDraw, ImageFont

from capture.frames import Image
from hub.wording import Language, label
from vision.detections import NO_TRACK, Detections

Polygon = Sequence[tuple[float, float]]

_OTHER = (160, 160, 160)  # BGR: objects not involved in the finding
_HIT = (0, 0, 255)  # the objects the finding is about
_ZONE = (0, 215, 255)
_LINE = (255, 128, 0)
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
log = logging.getLogger(__name__)


@functools.cache
def _font_file() -> str | None:
    named = os.environ.get("OFFSITE_EVIDENCE_FONT")
    for candidate in ([named] if named else []) + list(CJK_FONTS):
        if Path(candidate).is_file():
            return candidate
    log.warning(
        "no CJK font for evidence labels (install fonts-noto-cjk or fonts-wqy-microhei, or name one"
        " in OFFSITE_EVIDENCE_FONT): Chinese words in pictures are drawn as boxes"
    )
    return None


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_file()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


def _texts(image: Image, labels: list[tuple[str, tuple[int, int], tuple[int, int, int], int]]) -> Image:
    """`image` with each label (text, top-left, BGR background, font size) written in white on its
    background, all in one pass through Pillow."""
    if not labels:
        return image
    picture = Pillow.fromarray(np.ascontiguousarray(image[:, :, ::-1]))
    draw = ImageDraw.Draw(picture)
    for text, (x, y), (b, g, r), size in labels:
        font = _font(size)
        left, top, right, bottom = (round(v) for v in draw.textbbox((0, 0), text, font=font))
        pad = max(2, size // 6)
        y = max(0, y - (bottom - top) - 2 * pad)  # above the point, as a box's label sits on it
        draw.rectangle((x, y, x + right - left + 2 * pad, y + bottom - top + 2 * pad), fill=(r, g, b))
        draw.text((x + pad - left, y + pad - top), text, font=font, fill=(255, 255, 255))
    return np.asarray(picture)[:, :, ::-1].copy()


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
    language: Language = "zh",
) -> Image:
    """A copy of `image` with the finding drawn: zone or line, every box with label and track id
    (the finding's own in red), and a header with `title` (the rule's and the camera's names, in
    any language) and the time; labels in `language` (人员 #3 0.91)."""
    out = image.copy()
    size = max(14, round(out.shape[1] / 60))  # pixels of a header letter: 32 at 1080p, 21 at 720p
    thick = max(1, round(out.shape[1] / 640))
    labels: list[tuple[str, tuple[int, int], tuple[int, int, int], int]] = []
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
    for box, kind, track, conf in zip(
        detections.xyxy, detections.labels, detections.tracker_id, detections.confidence, strict=True
    ):
        colour = _HIT if track != NO_TRACK and int(track) in hits else _OTHER
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        word = label(str(kind), language)
        name = f"{word} #{track} {conf:.2f}" if track != NO_TRACK else f"{word} {conf:.2f}"
        labels.append((name, (x1, y1), colour, round(size * 0.8)))
    for box in hit_boxes:
        x1, y1, x2, y2 = (round(v) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), _HIT, thick + 1)
    header = f"{title} · {at:%Y-%m-%d %H:%M:%S %z}"
    labels.append((header, (0, 0), (40, 40, 40), size))  # the header last: on top of all
    return _texts(out, labels)


def to_jpeg(image: Image, quality: int = 85) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {image.shape} picture as JPEG")
    return bytes(data)

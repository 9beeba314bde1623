"""Evidence pictures speak the deployment's language: the header and labels are drawn in a CJK
font (OpenCV's own fonts would draw every Chinese character as the same box)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from vision.detections import Detections
from vision.evidence import CJK_FONTS, _font_file, annotate, to_jpeg

AT = datetime(2026, 12, 2, 10, 31, 5, tzinfo=ZoneInfo("Asia/Shanghai"))


def picture(title: str, detections: Detections | None = None) -> np.ndarray:
    frame = np.full((720, 1280, 3), 90, np.uint8)
    return annotate(frame, detections or Detections.empty(), title=title, at=AT)


def test_the_header_is_written_in_chinese_glyphs() -> None:
    assert (
        _font_file() in CJK_FONTS and Path(str(_font_file())).is_file()
    )  # the README's commands install one
    away, here = picture("窗口人员离岗 · 1号窗口"), picture("窗口人员在岗 · 1号窗口")
    header = (slice(0, 40), slice(0, 1280))
    # one character differs: with a font that lacks them both would be the same box
    assert np.count_nonzero(away[header] != here[header]) > 20
    assert np.count_nonzero(away[40:] != here[40:]) == 0  # the picture below is untouched
    assert to_jpeg(away)[:2] == b"\xff\xd8"


def test_every_box_gets_its_label_beside_it() -> None:
    boxes = Detections(
        xyxy=np.array([[100, 300, 300, 700], [800, 200, 1000, 600]], np.float32),
        confidence=np.array([0.91, 0.42], np.float32),
        class_id=np.array([0, 0]),
        labels=np.array(["person", "person"]),
        tracker_id=np.array([3, -1]),
    )
    drawn, bare = picture("吸烟 · 后厨", boxes), picture("吸烟 · 后厨")
    for x1, y1, x2, _ in ((100, 300, 300, 0), (800, 200, 1000, 0)):
        above = (slice(y1 - 30, y1), slice(x1, x1 + 120))  # the label sits on the box's top edge
        assert np.count_nonzero(drawn[above] != bare[above]) > 100
        assert (
            np.count_nonzero(
                drawn[y1 + 10 : y1 + 60, x2 + 5 : x2 + 60] != bare[y1 + 10 : y1 + 60, x2 + 5 : x2 + 60]
            )
            == 0
        )


def test_box_labels_speak_the_deployment_language() -> None:
    one = Detections(
        xyxy=np.array([[100, 300, 300, 700]], np.float32),
        confidence=np.array([0.91], np.float32),
        class_id=np.array([0]),
        labels=np.array(["person"]),
        tracker_id=np.array([3]),
    )
    frame = np.full((720, 1280, 3), 90, np.uint8)
    zh, en = (annotate(frame, one, title="x", at=AT, language=language) for language in ("zh", "en"))
    label = (slice(270, 300), slice(100, 260))
    assert np.count_nonzero(zh[label] != en[label]) > 50  # 人员 #3 0.91, person #3 0.91
    assert np.count_nonzero(zh[:260] != en[:260]) == 0  # the same header

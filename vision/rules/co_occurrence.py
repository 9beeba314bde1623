"""Co-occurrence: a subject with an object (phone at the post) or without its gear (no chef hat)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from hub.config.rules import CoOccurrence
from vision.detections import Boxes, Detections
from vision.rules.base import GRACE, Hit, Spells, ZonedRule, seconds
from vision.zones import PolygonZone, box_tuple

ENLARGE = 0.10  # a companion's centre may lie this fraction of the box size beyond the subject's box
HEAD = 1 / 3  # gear is looked for in this upper part of the subject's box


def enlarged(boxes: Boxes, fraction: float = ENLARGE) -> Boxes:
    """Boxes grown by `fraction` of their width and height, half on each side."""
    pad = (boxes[:, 2:] - boxes[:, :2]) * (fraction / 2)
    return np.concatenate([boxes[:, :2] - pad, boxes[:, 2:] + pad], axis=1).astype(np.float32)


def upper_part(boxes: Boxes, fraction: float = HEAD) -> Boxes:
    """The top `fraction` of each box (N x 4)."""
    top = boxes.copy()
    top[:, 3] = boxes[:, 1] + (boxes[:, 3] - boxes[:, 1]) * fraction
    return top


def centres_inside(centres: npt.NDArray[np.float32], boxes: Boxes) -> npt.NDArray[np.bool_]:
    """N x M: whether centre m lies in box n (edges included)."""
    x, y = centres[None, :, 0], centres[None, :, 1]
    b = boxes[:, None, :]
    return np.asarray((x >= b[..., 0]) & (x <= b[..., 2]) & (y >= b[..., 1]) & (y <= b[..., 3]), np.bool_)


def overlapping(a: Boxes, b: Boxes) -> npt.NDArray[np.bool_]:
    """N x M: whether box n of `a` and box m of `b` share some area."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.asarray(((rb - lt) > 0).all(axis=2), np.bool_)


@dataclass(frozen=True)
class _Finding:
    row: int  # of the subject in the zone's detections
    companions: tuple[int, ...]  # rows of the `with_labels` objects on it
    found: tuple[str, ...]  # `with_labels` seen on it
    missing: tuple[str, ...]  # `without_labels` not seen on it


class CoOccurrenceRule(ZonedRule[CoOccurrence]):
    """Fires per subject track (the rule's `labels`, standing in the zone) for which the
    condition has held for `min_duration`; clears when it has not held for `grace`.

    - `with_labels`: one of them is on the subject: its box centre lies inside the subject's
      box enlarged by 10 % (a phone in the hand sticks out of the person's box a little).
    - `without_labels` (required gear): at least one of them is missing: no box of that label
      overlaps the upper third of the subject's box (where hats and masks are worn).
    - With both set, both must hold. Companions and gear need not stand in the zone themselves;
      they pass `min_confidence` like the subjects. Untracked subjects are ignored.
    """

    def __init__(self, config: CoOccurrence, tz: ZoneInfo, zone: PolygonZone, grace: float = GRACE) -> None:
        super().__init__(config, tz, zone, grace)
        self.spells: Spells[int] = Spells(timedelta(seconds=config.min_duration), self.grace)

    def labels(self) -> Collection[str]:
        c = self.config
        return {*c.labels, *c.with_labels, *c.without_labels}

    def _observe(self, detections: Detections, now: datetime) -> list[Hit]:
        findings = self._findings(detections)
        due, ended = self.spells.step(findings, now)
        hits = [self._clear(str(t), spell.gone or now, {"reason": "resolved"}) for t, spell in ended]
        for track in due:
            f = findings[track]
            since = self.spells.spells[track].since
            rows = [f.row, *f.companions]
            what = [f"with {', '.join(f.found)}"] if f.found else []
            what += [f"without {', '.join(f.missing)}"] if f.missing else []
            hits.append(
                self._fire(
                    str(track),
                    since,
                    now,
                    tracks=(track,),
                    boxes=tuple(box_tuple(detections.xyxy[r]) for r in rows),
                    detail={
                        "with": list(f.found),
                        "missing": list(f.missing),
                        "duration": seconds(now - since),
                    },
                )
            )
        return hits

    def _findings(self, detections: Detections) -> dict[int, _Finding]:
        """The tracked subjects in the zone for which the condition holds in this frame."""
        c = self.config
        is_subject = np.isin(detections.labels, c.labels) & (detections.tracker_id >= 0)
        subjects = np.flatnonzero(is_subject & self.zone.trigger(detections))
        if not len(subjects):
            return {}
        boxes = detections.xyxy[subjects]
        on_subject = centres_inside(detections.centers, enlarged(boxes))
        on_subject[np.arange(len(subjects)), subjects] = False  # a subject is not its own companion
        near_head = overlapping(upper_part(boxes), detections.xyxy)
        out: dict[int, _Finding] = {}
        for n, row in enumerate(subjects.tolist()):
            companions = [
                int(m) for m in np.flatnonzero(on_subject[n] & np.isin(detections.labels, c.with_labels))
            ]
            found = tuple(sorted({str(detections.labels[m]) for m in companions}))
            worn = {str(detections.labels[m]) for m in np.flatnonzero(near_head[n])}
            missing = tuple(label for label in c.without_labels if label not in worn)
            if (c.with_labels and not found) or (c.without_labels and not missing):
                continue
            out[int(detections.tracker_id[row])] = _Finding(row, tuple(companions), found, missing)
        return out

    def _reset(self) -> None:
        self.spells.clear()

"""Judged camera findings as a YOLO dataset, so that a site's model can be fine-tuned on what it
got wrong (`offsite dataset export`).

A camera finding's first event carries the frame as the camera gave it (kept in the evidence
store) and every detection on it, each marked `hit` when the finding is about it. An alert
dismissed by an operator, or a clue of it fed back as a false alarm, is a false alarm: the
detections it was about were wrong and are left out of the labels, the others kept, so that the
frame teaches the model what is not there. A clue fed back as confirmed keeps every detection.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.config import Deployment
from hub.evidence import EvidenceError, EvidenceStore
from hub.store.db import Connection

Verdict = Literal["confirmed", "false_alarm"]
SPLITS = ("train", "val")
VAL_SHARE = 0.2  # of the frames, chosen by their hash: the same frame lands in the same split every time
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = (
    "alert",
    "camera",
    "rule",
    "verdict",
    "time",
    "model",
    "split",
    "image",
    "labels",
    "dropped",
)


class DatasetError(ValueError):
    """An export that cannot be written where it was asked to; says why."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FrameRef(_Payload):
    """The frame a finding was seen on, as kept in the evidence store."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class Seen(_Payload):
    """One detection on the frame (pixels), and whether the finding is about it."""

    label: str = Field(min_length=1)
    box: tuple[float, float, float, float]
    confidence: float
    track: int
    hit: bool


class _Evidence(_Payload):
    frame: FrameRef
    detections: list[Seen]
    model: str = ""


@dataclass(frozen=True)
class Finding:
    """A judged camera finding: its alert, what the operators or departments said, and what the
    model saw on its frame."""

    alert: int
    camera: str
    rule: str
    verdict: Verdict
    time: datetime
    model: str
    frame: FrameRef
    detections: tuple[Seen, ...]

    def labels(self) -> list[Seen]:
        """The detections that are true: all when confirmed, the ones it was not about when false."""
        if self.verdict == "confirmed":
            return list(self.detections)
        return [d for d in self.detections if not d.hit]


@dataclass(frozen=True)
class Judged:
    findings: list[Finding]
    unusable: int  # alerts whose event's frame or detections could not be read


# A clue verdict of false alarm, or a dismissal, outweighs a confirmation (as in hub/verdicts.py).
_JUDGED = """
SELECT a.id, substr(a.source, 8), a.rule, a.first_seen, e.payload,
       CASE WHEN a.status = 'dismissed' OR coalesce(c.false_alarm, false) THEN 'false_alarm'
            ELSE 'confirmed' END
FROM alerts a
JOIN events e ON e.id = a.first_event
CROSS JOIN LATERAL (SELECT bool_or(verdict = 'false_alarm') AS false_alarm,
                           bool_or(verdict = 'confirmed') AS confirmed
                    FROM risk_clues WHERE alert_id = a.id) c
WHERE a.first_seen >= %(start)s AND a.first_seen < %(end)s
  AND starts_with(a.source, 'camera:') AND e.payload ? 'frame'
  AND (%(source)s::text IS NULL OR a.source = %(source)s)
  AND (a.status = 'dismissed' OR c.false_alarm OR c.confirmed)
ORDER BY a.first_seen, a.id
"""


def judged_findings(conn: Connection, start: datetime, end: datetime, camera: str | None = None) -> Judged:
    """The judged camera findings whose alert began in [start, end), oldest first; of one camera
    when given."""
    source = None if camera is None else f"camera:{camera}"
    rows = conn.execute(_JUDGED, {"start": start, "end": end, "source": source}).fetchall()
    found: list[Finding] = []
    unusable = 0
    for alert, cam, rule, at, payload, verdict in rows:
        try:  # an edge box's event is trusted no more than its schema: check what is used
            seen = _Evidence.model_validate(payload)
        except ValidationError:
            unusable += 1
            continue
        found.append(
            Finding(int(alert), cam, rule, verdict, at, seen.model, seen.frame, tuple(seen.detections))
        )
    return Judged(found, unusable)


def class_names(deployment: Deployment, findings: Iterable[Finding]) -> list[str]:
    """The dataset's classes: the labels the deployment's class maps declare, in their order (so
    that two exports number them alike), then any other label seen, sorted."""
    models = {m.id: m for m in deployment.vision.models}
    names: dict[str, None] = {}
    for camera in deployment.cameras:
        if camera.detect is None:
            continue
        model = models.get(camera.detect.model)
        declared = camera.detect.classes or (model.classes if model else {})
        names.update(dict.fromkeys(declared.values()))
    others = {d.label for f in findings for d in f.detections} - names.keys()
    return [*names, *sorted(others)]


def yolo_line(seen: Seen, frame: FrameRef, cls: int) -> str | None:
    """`class cx cy w h`, normalised to the frame and clipped to it; None for a box outside it."""
    x1, y1, x2, y2 = seen.box
    x1, x2 = (min(max(v, 0.0), frame.width) for v in (x1, x2))
    y1, y2 = (min(max(v, 0.0), frame.height) for v in (y1, y2))
    if x2 <= x1 or y2 <= y1:
        return None
    cx, cy = (x1 + x2) / 2 / frame.width, (y1 + y2) / 2 / frame.height
    w, h = (x2 - x1) / frame.width, (y2 - y1) / frame.height
    return f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def _in_val(sha256: str) -> bool:
    return int(sha256[:8], 16) < VAL_SHARE * 2**32


def splits(findings: list[Finding]) -> dict[str, str]:
    """Frame SHA-256 -> split. By the hash, so a frame keeps its split from export to export; with
    two frames or more, each split has at least one (the lowest hash for val, the highest for
    train), as training needs both."""
    frames = sorted({f.frame.sha256 for f in findings})
    chosen = {sha: "val" if _in_val(sha) else "train" for sha in frames}
    if len(frames) >= 2 and "val" not in chosen.values():
        chosen[frames[0]] = "val"
    if len(frames) >= 2 and "train" not in chosen.values():
        chosen[frames[-1]] = "train"
    return chosen


def refuse_used(out: Path) -> None:
    """DatasetError when `out` is a file or a folder with anything in it: an export starts afresh."""
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} is a file: give a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise DatasetError(f"{out} is not empty: give a new or empty folder, so no old file mixes in")


@dataclass
class Exported:
    """What an export wrote, and what it could not."""

    train: int = 0
    val: int = 0
    confirmed: int = 0
    false_alarms: int = 0
    missing: int = 0  # frames whose file is gone from the evidence store (or was altered)
    unusable: int = 0

    @property
    def frames(self) -> int:
        return self.train + self.val


def export(
    judged: Judged,
    names: list[str],
    evidence: EvidenceStore,
    out: Path,
    tz: ZoneInfo,
    step: Callable[[], None] = lambda: None,
) -> Exported:
    """Write the findings to `out` (checked by `refuse_used`) as images/, labels/, data.yaml and
    the manifest; `step` is called once per finding."""
    for kind in ("images", "labels"):
        for split in SPLITS:
            (out / kind / split).mkdir(parents=True, exist_ok=True)
    classes = {name: i for i, name in enumerate(names)}
    chosen = splits(judged.findings)
    done = Exported(unusable=judged.unusable)
    with (out / MANIFEST).open("w", newline="", encoding="utf-8") as file:
        manifest = csv.writer(file)
        manifest.writerow(MANIFEST_COLUMNS)
        for finding in judged.findings:
            try:
                image = evidence.read(finding.frame.sha256)
            except EvidenceError:
                done.missing += 1
                step()
                continue
            split, stem = chosen[finding.frame.sha256], f"alert-{finding.alert}"
            lines = (yolo_line(seen, finding.frame, classes[seen.label]) for seen in finding.labels())
            kept = [line for line in lines if line is not None]
            (out / "images" / split / f"{stem}.jpg").write_bytes(image)
            (out / "labels" / split / f"{stem}.txt").write_text("".join(f"{x}\n" for x in kept))
            manifest.writerow(
                (
                    finding.alert, finding.camera, finding.rule, finding.verdict,
                    finding.time.astimezone(tz).isoformat(), finding.model, split,
                    f"images/{split}/{stem}.jpg", len(kept), len(finding.detections) - len(kept),
                )
            )  # fmt: skip
            setattr(done, split, getattr(done, split) + 1)
            if finding.verdict == "confirmed":
                done.confirmed += 1
            else:
                done.false_alarms += 1
            step()
    data = {
        "path": str(out.absolute()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(names)),
    }
    (out / "data.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return done

"""The one detection type of the vision package: parallel numpy arrays, one row per object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Boxes = npt.NDArray[np.float32]  # N x 4: x1, y1, x2, y2 in pixels of the full frame
Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]
Labels = npt.NDArray[np.str_]

NO_TRACK = -1  # tracker_id of an object no tracker has taken (yet)


@dataclass(frozen=True)
class Detections:
    """Objects found in one frame, like supervision's `Detections`: vectorised, validated on build.

    `class_id` is the model's class; `labels` the domain label the camera's class map gives it
    (`person`, `person_fallen`, `car`); `tracker_id` is `NO_TRACK` until a tracker sets it.
    """

    xyxy: Boxes
    confidence: Floats
    class_id: Ints
    labels: Labels
    tracker_id: Ints = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must be N x 4, not {self.xyxy.shape}")
        if len(self.tracker_id) == 0 and n:
            object.__setattr__(self, "tracker_id", np.full(n, NO_TRACK, np.int64))
        for name in ("confidence", "class_id", "labels", "tracker_id"):
            shape = getattr(self, name).shape
            if shape != (n,):
                raise ValueError(f"{name} must have shape ({n},) like xyxy, not {shape}")

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.empty((0, 4), np.float32),
            np.empty(0, np.float32),
            np.empty(0, np.int64),
            np.empty(0, np.str_),
        )

    @classmethod
    def build(
        cls,
        xyxy: npt.ArrayLike,
        confidence: npt.ArrayLike,
        class_id: npt.ArrayLike,
        labels: Sequence[str] | None = None,
        tracker_id: npt.ArrayLike | None = None,
    ) -> Detections:
        """From array-likes; labels default to the class ids as text."""
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        ids = np.asarray(class_id, np.int64).reshape(-1)
        names = np.asarray([str(i) for i in ids] if labels is None else list(labels), np.str_)
        tracks = np.empty(0, np.int64) if tracker_id is None else np.asarray(tracker_id, np.int64)
        return cls(boxes, np.asarray(confidence, np.float32).reshape(-1), ids, names.reshape(-1), tracks)

    @classmethod
    def from_ultralytics(cls, result: Any, names: Mapping[int, str] | None = None) -> Detections:
        """From one ultralytics `Results` (duck-typed: the core never imports ultralytics).

        `names` maps class ids to labels; the model's own names when not given.
        """
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return cls.empty()
        ids = boxes.cls.cpu().numpy().astype(np.int64)
        names = names if names is not None else result.names
        return cls.build(
            boxes.xyxy.cpu().numpy(),
            boxes.conf.cpu().numpy(),
            ids,
            [names.get(int(i), str(int(i))) for i in ids],
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.int64] | slice) -> Detections:
        """The rows selected by a boolean mask, an index array or a slice."""
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            self.labels[index],
            self.tracker_id[index],
        )

    @property
    def anchors(self) -> Floats:
        """Bottom centre of each box (N x 2): where an object stands."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        return np.stack([x, self.xyxy[:, 3]], axis=1).astype(np.float32)

    @property
    def centers(self) -> Floats:
        """Centre of each box (N x 2)."""
        return ((self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2).astype(np.float32)

    @property
    def area(self) -> Floats:
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return np.asarray(wh[:, 0] * wh[:, 1], np.float32)

    def with_labels(self, labels: Sequence[str]) -> Detections:
        names = np.asarray(labels, np.str_)
        return Detections(self.xyxy, self.confidence, self.class_id, names, self.tracker_id)

    def with_tracks(self, tracker_id: npt.ArrayLike) -> Detections:
        ids = np.asarray(tracker_id, np.int64).reshape(-1)
        return Detections(self.xyxy, self.confidence, self.class_id, self.labels, ids)

    @staticmethod
    def merge(parts: Sequence[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections.empty()
        return Detections(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.tracker_id for p in parts]),
        )


def box_iou(a: Boxes, b: Boxes) -> npt.NDArray[np.float32]:
    """Intersection over union of every box of `a` (N x 4) with every box of `b` (M x 4): N x M."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0).astype(np.float32)

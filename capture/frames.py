"""Decoded frames and the bounded queue that hands the newest of them to the analysis."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture of a camera, as analysed."""

    camera: str
    index: int  # sequence number of the frame in its worker
    time: datetime  # wall-clock time it was decoded, with timezone
    pts_time: float | None  # stream timestamp in seconds, when the stream has one
    keyframe: bool
    image: Image = field(repr=False)  # height x width x 3, BGR, uint8

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"image must be H x W x 3 uint8 (BGR), not {self.image.shape} {self.image.dtype}"
            )

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


class FrameQueue:
    """A bounded queue that keeps the newest frames: a full queue drops its oldest and counts it.

    Analysis slower than the camera then sees fresh pictures with gaps, never a growing delay.
    """

    def __init__(self, maxsize: int = 2) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        self._frames: deque[Frame] = deque()
        self._maxsize = maxsize
        self._ready = threading.Condition()
        self.dropped = 0
        self.put_count = 0

    def put(self, frame: Frame) -> None:
        with self._ready:
            if len(self._frames) >= self._maxsize:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append(frame)
            self.put_count += 1
            self._ready.notify()

    def get(self, timeout: float | None = None) -> Frame | None:
        """The oldest frame kept, waiting up to `timeout` seconds; None when none came."""
        with self._ready:
            if not self._ready.wait_for(lambda: bool(self._frames), timeout):
                return None
            return self._frames.popleft()

    def __len__(self) -> int:
        with self._ready:
            return len(self._frames)

"""Recorded footage through a camera's analysis: as fast as the box allows, not in real time.

A department reviewing a recording wants the findings the live analysis would have made, stamped
with the moments they happened: each frame is stamped from the file's own clock (its start plus
the frame's presentation time) and sampled at the camera's analysed rate by that clock, so the
rules see the same frames, at the same times, as they would have live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

import av
import av.error

from capture.frames import Frame, Image

Progress = Callable[[float], None]  # seconds of footage analysed so far, in the file


class FootageError(Exception):
    """A recording that cannot be analysed (unreadable, no video, no start time), naming the file."""


def recorded_at(path: Path) -> datetime | None:
    """When the recording started, from its container's `creation_time` tag; None without one."""
    try:
        with av.open(str(path)) as container:
            tag = container.metadata.get("creation_time")
    except (av.error.FFmpegError, OSError) as exc:
        raise FootageError(f"{path}: cannot be opened: {exc}") from None
    if not tag:
        return None
    try:
        moment = datetime.fromisoformat(tag)
    except ValueError:
        raise FootageError(f"{path}: creation_time {tag!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else None


def duration(path: Path) -> float:
    """The recording's length in seconds, as its container states it (0 when it does not)."""
    try:
        with av.open(str(path)) as container:
            return (container.duration or 0) / av.time_base
    except (av.error.FFmpegError, OSError) as exc:
        raise FootageError(f"{path}: cannot be opened: {exc}") from None


def sampled_frames(path: Path, camera: str, fps: float, start: datetime) -> Iterator[Frame]:
    """The frames of `path` at `fps` by the file's own clock, stamped `start` + presentation time.

    Frames without a presentation time are stamped from their place in the stream's frame rate.
    """
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise FootageError(f"{path}: cannot be opened: {exc}") from None
    with container:
        if not container.streams.video:
            raise FootageError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # decoding is most of a replay's cost on a small box
        rate = float(stream.average_rate or 25)
        next_due, index = 0.0, 0
        for decoded, picture in enumerate(container.decode(stream)):
            at = float(picture.time) if picture.time is not None else decoded / rate
            if at + 1e-6 < next_due:
                continue
            next_due = max(next_due + 1 / fps, at + 1 / fps / 2)
            index += 1
            image = cast(Image, picture.to_ndarray(format="bgr24"))
            yield Frame(camera, index, start + timedelta(seconds=at), at, bool(picture.key_frame), image)


def replay(
    path: Path,
    process: Callable[[Frame], object],
    camera: str,
    fps: float,
    start: datetime,
    progress: Progress | None = None,
) -> float:
    """Feed `process` the sampled frames of one recording; returns the last frame's time in it."""
    last = 0.0
    for frame in sampled_frames(path, camera, fps, start):
        process(frame)
        last = frame.pts_time or 0.0
        if progress is not None:
            progress(last)
    return last

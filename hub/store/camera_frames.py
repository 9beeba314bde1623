"""The `camera_frames` table (migration 0017): each camera's latest analysed frame, a small
annotated JPEG the analysis hands over every `vision.frame_every` seconds, for the camera wall.

One writer (`store_frame`, an upsert that never puts an older frame over a newer one: an edge
box's frames may arrive late) and the reads the API serves (`frame`, `frame_times`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.store.db import Connection


@dataclass(frozen=True, slots=True)
class CameraFrame:
    """A camera's analysed frame at `time`, as a JPEG of `width` x `height` pixels."""

    camera: str
    time: datetime
    jpeg: bytes
    width: int
    height: int


def store_frame(conn: Connection, frame: CameraFrame) -> bool:
    """Keep `frame` as its camera's latest; False when the table holds a newer one already."""
    row = conn.execute(
        """INSERT INTO camera_frames AS f (camera, time, jpeg, width, height)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (camera) DO UPDATE
           SET time = EXCLUDED.time, jpeg = EXCLUDED.jpeg, width = EXCLUDED.width, height = EXCLUDED.height
           WHERE f.time <= EXCLUDED.time
           RETURNING 1""",
        (frame.camera, frame.time, frame.jpeg, frame.width, frame.height),
    ).fetchone()
    return row is not None


def frame(conn: Connection, camera: str) -> CameraFrame | None:
    """The latest frame of `camera`; None before its first."""
    row = conn.execute(
        "SELECT camera, time, jpeg, width, height FROM camera_frames WHERE camera = %s", (camera,)
    ).fetchone()
    return None if row is None else CameraFrame(str(row[0]), row[1], bytes(row[2]), int(row[3]), int(row[4]))


def frame_times(conn: Connection, cameras: Sequence[str]) -> dict[str, datetime]:
    """When each of `cameras` was last framed (cameras without a frame are left out)."""
    rows = conn.execute(
        "SELECT camera, time FROM camera_frames WHERE camera = ANY(%s::text[])", (list(cameras),)
    ).fetchall()
    return {str(camera): time for camera, time in rows}

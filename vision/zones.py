"""Where objects are on the picture: polygon zones, directed lines and line crossings.

Objects are placed by the bottom centre of their box (`Detections.anchors`): where they stand.
Coordinates are pixels of the full frame, x to the right and y *down*, as images are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from vision.detections import Detections

Box = tuple[float, float, float, float]  # x1, y1, x2, y2
Point = tuple[float, float]
Direction = Literal["left_to_right", "right_to_left"]
Mask = npt.NDArray[np.bool_]

EDGE_TOLERANCE = 1e-3  # pixels: a point this close to an edge or a line is on it


def box_tuple(row: npt.NDArray[np.floating]) -> Box:
    """One xyxy row as plain floats (for hits and crossings)."""
    x1, y1, x2, y2 = (float(v) for v in row)
    return (x1, y1, x2, y2)


def _points(points: npt.ArrayLike) -> npt.NDArray[np.float64]:
    array = np.asarray(points, np.float64)
    if array.size == 0:
        return np.empty((0, 2), np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"points must be N x 2 (x, y), not {array.shape}")
    return array


class PolygonZone:
    """A polygon on the picture, like supervision's `PolygonZone`; its edges belong to it."""

    def __init__(self, polygon: Sequence[tuple[float, float]]) -> None:
        corners = np.asarray(polygon, np.float64).reshape(-1, 2)
        if not np.isfinite(corners).all():
            raise ValueError(f"zone polygon has a corner that is not a finite number: {list(polygon)}")
        # Repeated corners (often the first one again, to close the ring) would make empty edges.
        keep = np.any(corners != np.roll(corners, 1, axis=0), axis=1) if len(corners) > 1 else [True]
        corners = corners[keep]
        if len(corners) < 3:
            raise ValueError(f"zone polygon needs at least 3 distinct corners, got {list(polygon)}")
        x, y = corners[:, 0], corners[:, 1]
        if abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) == 0:
            raise ValueError(f"zone polygon {list(polygon)} has no area: its corners are on one line")
        self.polygon = corners

    def contains(self, points: npt.ArrayLike) -> Mask:
        """Whether each point (N x 2) is inside the polygon or on its edge (even-odd rule)."""
        p = _points(points)
        a = self.polygon
        b = np.roll(a, -1, axis=0)
        px, py = p[:, :1], p[:, 1:]  # N x 1 against the M edges
        ax, ay, ex, ey = a[:, 0], a[:, 1], b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
        straddles = (ay > py) != (b[:, 1] > py)
        safe_ey = np.where(ey == 0, 1.0, ey)
        x_at = ax + (py - ay) * ex / safe_ey  # where the edge meets the point's row
        inside = np.logical_xor.reduce(straddles & (px < x_at), axis=1)
        t = np.clip(((px - ax) * ex + (py - ay) * ey) / (ex**2 + ey**2), 0.0, 1.0)
        distance2 = (ax + t * ex - px) ** 2 + (ay + t * ey - py) ** 2
        on_edge = (distance2 <= EDGE_TOLERANCE**2).any(axis=1)
        return np.asarray(inside | on_edge, np.bool_)

    def trigger(self, detections: Detections) -> Mask:
        """Which detections stand in the zone, judged at the bottom centre of their box."""
        return self.contains(detections.anchors)


class DirectedLine:
    """A segment from `start` to `end`, with a left and a right side.

    Left and right are as seen on screen by someone standing at `start` and looking at `end`.
    With the image's y axis pointing down, a line drawn to the right (start left of end) has its
    left side *above* it; a line drawn downwards has its left side on the right of the picture.
    """

    def __init__(self, start: Point, end: Point) -> None:
        self.start = np.asarray(start, np.float64).reshape(2)
        self.end = np.asarray(end, np.float64).reshape(2)
        if not (np.isfinite(self.start).all() and np.isfinite(self.end).all()):
            raise ValueError(f"line from {start} to {end} has a coordinate that is not a finite number")
        self.direction = self.end - self.start
        self.length = float(np.hypot(*self.direction))
        if self.length == 0:
            raise ValueError(f"line from {start} to {end} has no length")

    def signed_distance(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Distance of each point (N x 2) to the infinite line: positive on the left, in pixels."""
        d = _points(points) - self.start
        cross = self.direction[0] * d[:, 1] - self.direction[1] * d[:, 0]
        # y points down: a negative cross product is on the left as seen on screen
        return np.asarray(-cross / self.length, np.float64)

    def side(self, points: npt.ArrayLike) -> npt.NDArray[np.int8]:
        """+1 left of the line, -1 right of it, 0 on it (as seen on screen from start to end)."""
        distance = self.signed_distance(points)
        out = np.sign(distance).astype(np.int8)
        out[np.abs(distance) <= EDGE_TOLERANCE] = 0
        return out

    def along(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Position of each point's projection on the line: 0 at start, 1 at end."""
        d = _points(points) - self.start
        return np.asarray(d @ self.direction / self.length**2, np.float64)


@dataclass(frozen=True)
class Crossing:
    """A track that went through a line segment."""

    tracker_id: int
    direction: Direction
    point: Point  # where its anchor's path met the line
    box: Box  # its box in the frame that completed the crossing


@dataclass
class _Side:
    side: int  # +1 or -1: the side it was last seen clearly on
    anchor: npt.NDArray[np.float64]  # where it was then
    seen: int  # update number it was last seen at


class LineCounter:
    """Counts the tracks whose anchor passes through a `DirectedLine` segment, per direction.

    A track's side changes only once its anchor is more than `margin` pixels beyond the line
    (hysteresis), and each track counts at most once per direction: an object standing on the
    line and jittering across it does not count again and again. A crossing counts only when the
    anchor's path (from its last position clearly on one side to its first clearly on the other)
    meets the segment itself, not the line's extension beyond `start` or `end`. Untracked
    detections are ignored; a track unseen for `forget_after` updates is forgotten.
    """

    def __init__(self, line: DirectedLine, margin: float = 5.0, forget_after: int = 300) -> None:
        if margin < 0:
            raise ValueError(f"margin must be 0 or more pixels, not {margin}")
        self.line = line
        self.margin = margin
        self.forget_after = forget_after
        self.left_to_right = 0
        self.right_to_left = 0
        self._tracks: dict[int, _Side] = {}
        self._counted: set[tuple[int, Direction]] = set()
        self._updates = 0

    def update(self, detections: Detections) -> list[Crossing]:
        """Take one frame's tracked detections; return the crossings it completes."""
        self._updates += 1
        tracked = detections[detections.tracker_id >= 0]
        anchors = tracked.anchors.astype(np.float64)
        distances = self.line.signed_distance(anchors)
        out: list[Crossing] = []
        for i, track in enumerate(tracked.tracker_id.tolist()):
            distance = float(distances[i])
            known = self._tracks.get(track)
            if known is not None:
                known.seen = self._updates
            if abs(distance) <= self.margin:
                continue  # on the line, within the hysteresis band: side unchanged
            side = 1 if distance > 0 else -1
            if known is None:
                self._tracks[track] = _Side(side, anchors[i], self._updates)
                continue
            if side != known.side:
                crossing = self._crossing(track, known, anchors[i], distance, tracked.xyxy[i])
                if crossing is not None:
                    out.append(crossing)
                known.side = side
            known.anchor = anchors[i]
        self._forget()
        return out

    def _crossing(
        self,
        track: int,
        known: _Side,
        anchor: npt.NDArray[np.float64],
        distance: float,
        box: npt.NDArray[np.float32],
    ) -> Crossing | None:
        before = float(self.line.signed_distance(known.anchor[None])[0])
        point = known.anchor + (anchor - known.anchor) * (before / (before - distance))
        if not 0.0 <= float(self.line.along(point[None])[0]) <= 1.0:
            return None  # went round the end of the segment
        direction: Direction = "left_to_right" if known.side > 0 else "right_to_left"
        if (track, direction) in self._counted:
            return None
        self._counted.add((track, direction))
        if direction == "left_to_right":
            self.left_to_right += 1
        else:
            self.right_to_left += 1
        return Crossing(track, direction, (float(point[0]), float(point[1])), box_tuple(box))

    def _forget(self) -> None:
        stale = [t for t, s in self._tracks.items() if self._updates - s.seen >= self.forget_after]
        for track in stale:
            del self._tracks[track]
        if stale:
            self._counted = {c for c in self._counted if c[0] in self._tracks}

    def reset(self) -> None:
        """Forget every track (the counts stay)."""
        self._tracks.clear()
        self._counted.clear()

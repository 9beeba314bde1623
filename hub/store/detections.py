"""The `detections` hypertable (migration 0002): tracked detections, sampled per track, so that the
dashboard can show how many people (or cars) a camera saw minute by minute and how long each stayed.

One writer (`write_detections`, a binary COPY) and the reads the API serves (`occupancy`, `dwell`).
A row is a track's box at one moment; the analysis writes at most one per track every
`vision.detections_every` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.store.db import Connection

_ORIGIN = "2000-01-01 00:00:00+00"  # minutes are binned from here, as hub.store.rollups bins readings


@dataclass(frozen=True, slots=True)
class DetectionRow:
    """One tracked object at one moment on one camera; `box` in pixels (x1, y1, x2, y2)."""

    time: datetime
    camera: str
    label: str
    confidence: float
    box: tuple[float, float, float, float]
    track_id: int


@dataclass(frozen=True, slots=True)
class MinuteCount:
    """Distinct tracks of `label` seen in the minute beginning at `minute`."""

    minute: datetime
    label: str
    tracks: int


@dataclass(frozen=True, slots=True)
class Stay:
    """A track's first and last sampled moment in a range, and how many rows it left there."""

    track_id: int
    label: str
    first: datetime
    last: datetime
    samples: int


def write_detections(conn: Connection, rows: Sequence[DetectionRow]) -> int:
    """Store `rows` in one COPY; returns how many."""
    if not rows:
        return 0
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY detections (time, camera, label, confidence, box, track_id) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["timestamptz", "text", "text", "float4", "float4[]", "int8"])
        for r in rows:
            copy.write_row((r.time, r.camera, r.label, r.confidence, list(r.box), r.track_id))
    return len(rows)


def occupancy(conn: Connection, camera: str, start: datetime, end: datetime) -> list[MinuteCount]:
    """Per minute of [start, end) and label: the distinct tracks `camera` saw; oldest first.

    Minutes without a row are left out (nobody was seen)."""
    rows = conn.execute(
        """SELECT date_bin('1 minute', time, %(origin)s) AS minute, label, count(DISTINCT track_id)
           FROM detections
           WHERE camera = %(camera)s AND time >= %(start)s AND time < %(end)s
           GROUP BY minute, label ORDER BY minute, label""",
        {"origin": _ORIGIN, "camera": camera, "start": start, "end": end},
    ).fetchall()
    return [MinuteCount(minute, str(label), int(n)) for minute, label, n in rows]


def dwell(
    conn: Connection, camera: str, start: datetime, end: datetime, gap: timedelta, limit: int
) -> list[Stay]:
    """Per stay `camera` saw in [start, end): a track's first and last sample, in order of arrival;
    at most `limit` stays.

    A track's rows more than `gap` apart are two stays: the tracker numbers its tracks afresh when
    the analysis restarts, so one id can name two people hours apart."""
    rows = conn.execute(
        """WITH marked AS (
               SELECT track_id, label, time,
                      CASE WHEN time - lag(time) OVER w > %(gap)s THEN 1 ELSE 0 END AS fresh
               FROM detections
               WHERE camera = %(camera)s AND time >= %(start)s AND time < %(end)s
               WINDOW w AS (PARTITION BY track_id, label ORDER BY time)
           ), numbered AS (
               SELECT track_id, label, time,
                      sum(fresh) OVER (PARTITION BY track_id, label ORDER BY time) AS stay
               FROM marked
           )
           SELECT track_id, label, min(time), max(time), count(*)
           FROM numbered GROUP BY track_id, label, stay
           ORDER BY min(time), track_id LIMIT %(limit)s""",
        {"camera": camera, "start": start, "end": end, "gap": gap, "limit": limit},
    ).fetchall()
    return [Stay(int(t), str(label), first, last, int(n)) for t, label, first, last, n in rows]

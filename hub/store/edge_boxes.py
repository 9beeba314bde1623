"""The one writer of `edge_boxes` (migration 0010): each edge box's last heartbeat.

A camera whose status differs from the box's previous heartbeat is also written to
`device_health`, through its own writer, so the cameras of a box have the same history as the
hub's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from psycopg.types.json import Jsonb

from hub.store.db import Connection
from hub.store.device_health import HealthChange, store_health


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a box says about itself; `seen_at` is the hub's clock, `box_time` the box's."""

    box: str
    site: str
    seen_at: datetime
    box_time: datetime
    software: str
    config_version: str
    outbox_depth: int
    outbox_age_s: float
    cameras: dict[str, str] = field(default_factory=dict)  # camera id -> status


def store_heartbeat(conn: Connection, beat: Heartbeat) -> list[HealthChange]:
    """Keep `beat` as the box's last heartbeat; the camera status changes it brought (recorded)."""
    row = conn.execute("SELECT cameras FROM edge_boxes WHERE box = %s FOR UPDATE", (beat.box,)).fetchone()
    before: dict[str, str] = dict(row[0]) if row is not None else {}
    conn.execute(
        "INSERT INTO edge_boxes (box, site, seen_at, box_time, software, config_version, outbox_depth,"
        " outbox_age_s, cameras) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (box) DO UPDATE SET site = EXCLUDED.site, seen_at = EXCLUDED.seen_at,"
        " box_time = EXCLUDED.box_time, software = EXCLUDED.software,"
        " config_version = EXCLUDED.config_version, outbox_depth = EXCLUDED.outbox_depth,"
        " outbox_age_s = EXCLUDED.outbox_age_s, cameras = EXCLUDED.cameras",
        (
            beat.box,
            beat.site,
            beat.seen_at,
            beat.box_time,
            beat.software,
            beat.config_version,
            beat.outbox_depth,
            beat.outbox_age_s,
            Jsonb(beat.cameras),
        ),
    )
    changes = [
        HealthChange(beat.seen_at, "camera", camera, status, f"reported by edge box {beat.box}")
        for camera, status in sorted(beat.cameras.items())
        if before.get(camera) != status
    ]
    store_health(conn, changes)
    return changes

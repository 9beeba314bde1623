"""The one writer of `device_health` (migration 0002): a device's status changes over time.

Cameras (online, reconnecting, frozen, offline, with why in `detail`), sensors (online, offline)
and edge boxes all write their changes here, so every row has the same shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg.types.json import Jsonb

from hub.store.db import Connection

DeviceKind = Literal["camera", "sensor", "edge"]  # the table's CHECK constraint


@dataclass(frozen=True, slots=True)
class HealthChange:
    """One row of `device_health`: `device` of `kind` turned `status` at `time`."""

    time: datetime
    kind: DeviceKind
    device: str
    status: str
    detail: str = ""  # why, for a person: the error, "no frame for 10 s"; empty when nothing to say


def store_health(conn: Connection, changes: Iterable[HealthChange]) -> int:
    """Record status changes in the caller's transaction; how many rows were written."""
    rows = [
        (c.time, c.kind, c.device, c.status, Jsonb({"detail": c.detail} if c.detail else {})) for c in changes
    ]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO device_health (time, kind, device, status, detail) VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
    return len(rows)


def latest_health(conn: Connection, kind: DeviceKind, devices: list[str]) -> dict[str, HealthChange]:
    """The last status change of each of `devices` that has one."""
    rows = conn.execute(
        """SELECT h.time, k.device, h.status, coalesce(h.detail ->> 'detail', '')
           FROM unnest(%s::text[]) AS k (device)
           CROSS JOIN LATERAL (SELECT status, time, detail FROM device_health
                               WHERE kind = %s AND device = k.device ORDER BY time DESC LIMIT 1) AS h""",
        (devices, kind),
    ).fetchall()
    return {device: HealthChange(time, kind, device, status, detail) for time, device, status, detail in rows}

"""A camera's status change is stored through the one writer of `device_health`."""

from __future__ import annotations

from datetime import UTC, datetime

from capture.health import CameraStatus, StatusChange, store_health
from hub.store.db import Database

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_a_camera_change_is_a_device_health_row_with_its_reason(db: Database) -> None:
    change = StatusChange("cam-1", CameraStatus.FROZEN, CameraStatus.ONLINE, T0, "same picture for 30 s")
    with db.transaction() as conn:
        store_health(conn, [change])
        rows = conn.execute("SELECT time, kind, device, status, detail FROM device_health").fetchall()
    assert rows == [(T0, "camera", "cam-1", "frozen", {"detail": "same picture for 30 s"})]

"""The one writer of `device_health`: every kind of device writes rows of the same shape."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.store.db import Database
from hub.store.device_health import HealthChange, store_health

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_cameras_and_sensors_write_the_same_row_shape(db: Database) -> None:
    changes = [
        HealthChange(T0, "camera", "cam-1", "offline", "no frame for 60 s"),
        HealthChange(T0, "sensor", "s1", "online"),
    ]
    with db.transaction() as conn:
        assert store_health(conn, changes) == 2
        assert store_health(conn, []) == 0
        rows = conn.execute("SELECT kind, device, status, detail FROM device_health ORDER BY kind").fetchall()
    assert rows == [
        ("camera", "cam-1", "offline", {"detail": "no frame for 60 s"}),
        ("sensor", "s1", "online", {}),
    ]

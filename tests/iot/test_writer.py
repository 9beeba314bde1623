"""Batch writes: COPY for new readings, a merge that skips stored ones, dead letters beside them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.store.db import Database
from iot.readings import Reading
from iot.writer import DeadLetter, write_batch

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def readings(start: int, stop: int) -> list[Reading]:
    return [
        Reading("coldstore-temp", "temperature", T0 + timedelta(seconds=i), -20.0 + i)
        for i in range(start, stop)
    ]


def test_redelivered_readings_are_stored_once(db: Database) -> None:
    dead = [DeadLetter(T0, "sites/x/sensors/y/telemetry", b"x" * 1000, "y", "unknown sensor 'y'")]
    with db.pool.connection() as conn:
        assert write_batch(conn, readings(0, 100), dead) == 100
    with db.pool.connection() as conn:
        assert write_batch(conn, readings(50, 150), []) == 50  # half of it was stored before
    with db.pool.connection() as conn:
        assert write_batch(conn, readings(0, 150) + readings(0, 10), []) == 0  # duplicates inside too
        rows = conn.execute("SELECT count(*), min(value), max(value) FROM readings").fetchone()
        letters = conn.execute(
            "SELECT topic, length(payload_head), payload_size, reason FROM dead_letters"
        ).fetchall()
    assert rows == (150, -20.0, 129.0)
    assert letters == [("sites/x/sensors/y/telemetry", 256, 1000, "unknown sensor 'y'")]

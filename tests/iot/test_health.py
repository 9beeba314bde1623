"""Sensor health: a sensor is offline after N expected intervals of silence, online when it speaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.config import Deployment
from iot.health import SensorHealth
from iot.readings import Reading

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_status_changes_and_rates(deployment: Deployment) -> None:
    health = SensorHealth(deployment)  # coldstore-temp: every 30 s, offline after 3 x 30 s
    reading = Reading("coldstore-temp", "temperature", T0, -20.0)
    assert health.changes(T0) == []  # never heard from: no status yet
    for s in range(0, 300, 30):
        health.seen([reading], T0 + timedelta(seconds=s))
    assert health.changes(T0 + timedelta(seconds=300)) == [("coldstore-temp", "online")]
    assert health.changes(T0 + timedelta(seconds=350)) == []
    assert health.changes(T0 + timedelta(seconds=361)) == [("coldstore-temp", "offline")]
    status, last_seen, per_minute = health.snapshot()["coldstore-temp"]
    # Seven arrivals (90 s to 270 s) in the last five minutes.
    assert (status, last_seen, per_minute) == ("offline", T0 + timedelta(seconds=270), 1.4)
    health.seen([reading], T0 + timedelta(seconds=400))
    assert health.changes(T0 + timedelta(seconds=401)) == [("coldstore-temp", "online")]


def test_unstored_changes_come_back(deployment: Deployment) -> None:
    health = SensorHealth(deployment)
    health.seen([Reading("coldstore-gas", "lel", T0, 1.0)], T0)
    changes = health.changes(T0)
    health.retry(changes)
    assert health.changes(T0) == [("coldstore-gas", "online")]

"""Sensor health: last seen, message rate, and online/offline status changes."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub.config import Deployment
from iot.readings import Reading

RATE_WINDOW = timedelta(minutes=5)


@dataclass
class _Sensor:
    interval: timedelta
    last_seen: datetime | None = None
    status: str = "unknown"
    arrivals: deque[datetime] = field(default_factory=deque)


class SensorHealth:
    """Tracks each registered sensor; a sensor silent for N expected intervals is offline."""

    def __init__(self, deployment: Deployment) -> None:
        factor = deployment.iot.offline_after_intervals
        self._sensors = {
            s.id: _Sensor(interval=timedelta(seconds=s.interval * factor)) for s in deployment.sensors
        }
        self._pending: list[tuple[str, str]] = []

    def seen(self, readings: list[Reading], now: datetime) -> None:
        """Note the arrival of readings (by arrival time: a late reading still shows the sensor lives)."""
        for sensor_id in {r.sensor for r in readings}:
            state = self._sensors.get(sensor_id)
            if state is None:
                continue
            state.last_seen = now
            state.arrivals.append(now)

    def changes(self, now: datetime) -> list[tuple[str, str]]:
        """Status changes since the last call, as (sensor, online|offline)."""
        out, self._pending = self._pending, []
        for sensor_id, state in self._sensors.items():
            while state.arrivals and state.arrivals[0] < now - RATE_WINDOW:
                state.arrivals.popleft()
            if state.last_seen is None:
                continue
            status = "online" if now - state.last_seen <= state.interval else "offline"
            if status != state.status:
                state.status = status
                out.append((sensor_id, status))
        return out

    def retry(self, changes: list[tuple[str, str]]) -> None:
        """Changes that could not be stored, to be returned again next time."""
        self._pending = changes + self._pending

    def snapshot(self) -> dict[str, tuple[str, datetime | None, float]]:
        """Per sensor: status, last seen, messages per minute over the last five minutes."""
        minutes = RATE_WINDOW.total_seconds() / 60
        return {k: (s.status, s.last_seen, len(s.arrivals) / minutes) for k, s in self._sensors.items()}
